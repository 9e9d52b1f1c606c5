//! Against nginx, as an IT admin would run the server side: TLS with a
//! server certificate from the company CA, device certificates checked
//! (`ssl_verify_client on`), `auth_basic`, and one bundle per login.

use preconf_testlab::peers::{Nginx, NginxSpec, own_loopback_address};
use preconf_testlab::*;

const OTHER_USER: (&str, &str) = ("asmith", "another secret");

struct World {
    lab: Lab,
    _nginx: Nginx,
}

fn world() -> World {
    let mut lab = Lab::new();
    let www = nginx_www(&lab, &[(OTHER_USER.0, "DEV-0002")]);
    let server = lab.server_ca.issue(&["cfg.example.test"]);
    // An address of its own: no other test can take the port meanwhile.
    let addr = own_loopback_address();
    let nginx = Nginx::start(
        &NginxSpec {
            dir: &lab.path("nginx"),
            addr,
            server_name: "cfg.example.test",
            cert_pem: &server.cert_pem,
            key_pem: &server.key_pem,
            client_ca: Some(&lab.device_ca.pem()),
            users: &[(LOGIN, PASSWORD), OTHER_USER],
            www: &www,
        },
        &[],
    );
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        unreachable!("own_loopback_address is IPv4")
    };
    lab.start_dns(
        Zone::new()
            .txt(SRV, "path=/bundle")
            .srv(SRV, 10, 1, addr.port(), "cfg.example.test")
            .a("cfg.example.test", ip),
    );
    World { lab, _nginx: nginx }
}

fn run(w: &World, extra: &[String]) -> Run {
    let mut c = w.lab.preconf();
    c.args(["--domain", DOMAIN, "--force"]).args(extra);
    Run::of(c)
}

#[test]
fn device_certificate_and_password_get_the_users_bundle() {
    let w = world();
    let device = w.lab.device_flags(&w.lab.device_ca, "device");
    run(&w, &device)
        .ok()
        .says("presenting the device certificate");
    assert!(read(&w.lab.root().join("handoff.txt")).contains("PRECONF_DEVICE_ID=DEV-0001"));

    // Another login gets its own bundle from the same URL.
    let mut c = w.lab.preconf();
    c.env("PRECONF_PASSWORD", OTHER_USER.1)
        .args(["--domain", DOMAIN, "--force", "--user", OTHER_USER.0])
        .args(&device);
    Run::of(c).ok();
    assert!(read(&w.lab.root().join("handoff.txt")).contains("PRECONF_DEVICE_ID=DEV-0002"));
}

#[test]
fn missing_device_certificate_is_explained() {
    let w = world();
    run(&w, &[]).fails(
        78,
        "answered 400: it requires a device certificate; pass --client-cert and --client-key.",
    );
}

#[test]
fn foreign_device_certificate_is_explained() {
    let w = world();
    let foreign = w.lab.device_flags(&Ca::new("Some Other CA"), "foreign");
    run(&w, &foreign).fails(
        78,
        "answered 400: it did not accept the device certificate; check --client-cert",
    );
}

#[test]
fn wrong_password_is_refused() {
    let w = world();
    let device = w.lab.device_flags(&w.lab.device_ca, "device");
    let mut c = w.lab.preconf();
    c.env("PRECONF_PASSWORD", "not it")
        .args(["--domain", DOMAIN])
        .args(&device);
    Run::of(c).fails(77, "cfg.example.test refused the login jdoe");
}

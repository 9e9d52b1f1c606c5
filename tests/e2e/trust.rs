//! TLS is verified always; no plain http; credentials stay with their origin.

use std::collections::HashMap;

use preconf_testlab::*;

fn lab_with(routes: HashMap<String, Reply>) -> (Lab, u16) {
    let mut lab = Lab::new();
    let port = lab.serve("cfg1.example.test", routes);
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    (lab, port)
}

fn run(lab: &Lab, extra: &[&str]) -> Run {
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec"]).args(extra);
    Run::of(c)
}

#[test]
fn untrusted_server_certificate_is_refused() {
    let (lab, _) = lab_with(standard_routes(&Lab::new()).routes);
    let other = lab.file("other-ca.pem", Ca::new("Someone Else").pem().as_bytes());
    let mut c = lab.preconf_trusting(&other);
    c.args(["--domain", DOMAIN, "--no-exec"]);
    Run::of(c).fails(78, "not signed by a trusted CA (check --ca)");
    assert!(
        lab.servers[0].requests().is_empty(),
        "a request went out over an unverified connection"
    );
}

#[test]
fn no_ca_at_all_is_a_configuration_error() {
    let lab = Lab::new();
    let mut c = command();
    c.env_clear()
        .args(["--server", "https://localhost:1/", "--root"])
        .arg(lab.root());
    Run::of(c).fails(78, "no CA certificate to trust");
}

#[test]
fn redirect_to_plain_http_is_refused() {
    let mut routes = standard_routes(&Lab::new()).routes;
    routes.insert(
        "/bundle".into(),
        Reply::Redirect(302, "http://cfg1.example.test/bundle".into()),
    );
    let (lab, _) = lab_with(routes);
    run(&lab, &[]).fails(
        69,
        "redirected to plain-http http://cfg1.example.test/bundle; refusing",
    );
    assert!(!lab.root().join("usr/bin/corp-configurator").exists());
}

#[test]
fn same_origin_redirect_keeps_credentials() {
    let lab0 = Lab::new();
    let mut routes = standard_routes(&lab0).routes;
    let bundle = routes.remove("/bundle").unwrap();
    routes.insert("/bundle".into(), Reply::Redirect(301, "/v2/bundle".into()));
    routes.insert("/v2/bundle".into(), bundle);
    // Relative package URLs now resolve against /v2/.
    let pkg = routes.remove("/pkgs/corp.sh").unwrap();
    routes.insert("/v2/pkgs/corp.sh".into(), pkg);
    let (lab, port) = lab_with(routes);
    run(&lab, &[]).ok().says(&format!(
        "bundle from https://cfg1.example.test:{port}/v2/bundle"
    ));
}

#[test]
fn credentials_never_go_to_another_origin() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    // The package lives on a CDN that needs no login.
    let cdn = lab.serve_with(
        "cdn.example.test",
        HashMap::from([("/corp.sh".to_string(), Reply::Body(s.script.clone()))]),
        false,
        None,
    );
    let bundle = bundle_json(
        &[Pkg {
            arch: "any",
            kind: "exec",
            url: &format!("https://cdn.example.test:{cdn}/corp.sh"),
            sha256: sha256_hex(&s.script),
            size: s.script.len() as u64,
            path: Some("/usr/bin/corp-configurator"),
        }],
        &["/usr/bin/corp-configurator"],
        &[],
    );
    // And the bundle URL first redirects across origins too.
    let cfg2 = lab.serve_with(
        "cfg2.example.test",
        HashMap::from([("/bundle".to_string(), Reply::Body(bundle.into_bytes()))]),
        false,
        None,
    );
    let cfg1 = lab.serve(
        "cfg1.example.test",
        HashMap::from([(
            "/bundle".to_string(),
            Reply::Redirect(302, format!("https://cfg2.example.test:{cfg2}/bundle")),
        )]),
    );
    lab.start_dns(
        zone_for(&[("cfg1.example.test", 10, 1, cfg1)])
            .a("cfg2.example.test", std::net::Ipv4Addr::LOCALHOST)
            .a("cdn.example.test", std::net::Ipv4Addr::LOCALHOST),
    );
    run(&lab, &[]).ok();
    let cfg1_log = lab.servers.last().unwrap().requests();
    assert!(
        cfg1_log[0].headers.contains_key("authorization"),
        "the server's own origin gets the login"
    );
    for (name, server) in [("cdn", &lab.servers[0]), ("cfg2", &lab.servers[1])] {
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1, "{name}");
        assert!(
            !reqs[0].headers.contains_key("authorization"),
            "credentials were sent to {name}"
        );
        assert_eq!(
            reqs[0].headers.get("x-preconf-arch").map(String::as_str),
            Some(target_arch())
        );
    }
}

#[test]
fn device_certificate_for_mutual_tls() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve_with(
        "cfg1.example.test",
        s.routes,
        true,
        Some(lab.device_ca.pem()),
    );
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    run(&lab, &[]).fails(78, "refused the device certificate (check --client-cert)");

    let foreign = lab.device_flags(&Ca::new("Foreign Device CA"), "foreign");
    run(
        &lab,
        &foreign.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .fails(78, "refused the device certificate");

    let device = lab.device_flags(&lab.device_ca, "device");
    run(&lab, &device.iter().map(String::as_str).collect::<Vec<_>>())
        .ok()
        .says("presenting the device certificate");
}

#[test]
fn device_id_is_sent_as_identity() {
    let (lab, _) = lab_with(standard_routes(&Lab::new()).routes);
    run(&lab, &["--device-id", "SER-42"]).ok();
    let reqs = lab.servers[0].requests();
    assert!(
        reqs.iter()
            .all(|r| r.headers.get("x-preconf-device-id").map(String::as_str) == Some("SER-42"))
    );
}

#[test]
fn system_roots_are_added_not_substituted() {
    let (lab, _) = lab_with(standard_routes(&Lab::new()).routes);
    let store = "/etc/ssl/certs/ca-certificates.crt";
    assert!(
        std::path::Path::new(store).is_file(),
        "{store} is needed (Debian package ca-certificates)"
    );
    // The public store alone does not trust the company's private CA.
    let mut c = command();
    c.env_clear()
        .env("PRECONF_PASSWORD", PASSWORD)
        .args([
            "--domain",
            DOMAIN,
            "--no-exec",
            "--user",
            LOGIN,
            "--system-roots",
            "--io-timeout",
            "2",
            "--dns",
            &lab.dns.as_ref().unwrap().addr.to_string(),
            "--root",
        ])
        .arg(lab.root());
    Run::of(c)
        .fails(78, "not signed by a trusted CA")
        .says(&format!("from {store})"));
    // With the company CA besides, it does.
    run(&lab, &["--system-roots"])
        .ok()
        .says(&format!("from {store}"));
}

#[test]
fn proxy_variables_are_not_followed() {
    let (lab, _) = lab_with(standard_routes(&Lab::new()).routes);
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec"]);
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "HTTP_PROXY"] {
        c.env(var, &dead);
    }
    // Connections go where the URLs say, names resolved by our own DNS.
    Run::of(c).ok();
    assert_eq!(lab.servers[0].requests().len(), 2);
}

//! Finding the server: SRV order (RFC 2782), TXT path, failover, and the
//! ways DNS can say no.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};

use preconf_testlab::*;

fn run_domain(lab: &Lab, extra: &[&str]) -> Run {
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec"]).args(extra);
    Run::of(c)
}

fn bundle_requests(lab: &Lab, server: usize) -> usize {
    lab.servers[server]
        .requests()
        .iter()
        .filter(|r| r.path == "/bundle")
        .count()
}

#[test]
fn lowest_priority_first_whatever_the_weight() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let p1 = lab.serve("cfg1.example.test", s.routes.clone());
    let p2 = lab.serve("cfg2.example.test", s.routes.clone());
    lab.start_dns(zone_for(&[
        ("cfg2.example.test", 20, 65535, p2),
        ("cfg1.example.test", 10, 1, p1),
    ]));
    run_domain(&lab, &[]).ok().says(&format!(
        "cfg1.example.test:{p1}/bundle (priority 10, weight 1), then https://cfg2"
    ));
    assert_eq!((bundle_requests(&lab, 0), bundle_requests(&lab, 1)), (1, 0));
}

#[test]
fn heavier_weight_first_within_a_priority() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let p1 = lab.serve("cfg1.example.test", s.routes.clone());
    let p2 = lab.serve("cfg2.example.test", s.routes.clone());
    // Weight 0 against 65535: the light one goes first once in 65536 runs.
    lab.start_dns(zone_for(&[
        ("cfg1.example.test", 10, 0, p1),
        ("cfg2.example.test", 10, 65535, p2),
    ]));
    for _ in 0..3 {
        let mut c = lab.preconf();
        c.args(["--domain", DOMAIN, "--no-exec", "--force"]);
        Run::of(c).ok();
    }
    assert_eq!((bundle_requests(&lab, 0), bundle_requests(&lab, 1)), (0, 3));
}

#[test]
fn refused_connection_fails_over_to_next_target() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let p2 = lab.serve("cfg2.example.test", s.routes.clone());
    let dead = dead_port();
    lab.start_dns(zone_for(&[
        ("cfg1.example.test", 10, 1, dead),
        ("cfg2.example.test", 20, 1, p2),
    ]));
    run_domain(&lab, &[])
        .ok()
        .says(&format!("https://cfg1.example.test:{dead}/bundle: connection refused; trying the next server (1 left)"))
        .says(&format!("fetch: bundle from https://cfg2.example.test:{p2}/bundle"));
}

#[test]
fn server_error_fails_over_to_next_target() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let p1 = lab.serve(
        "cfg1.example.test",
        HashMap::from([("/bundle".to_string(), Reply::Status(503))]),
    );
    let p2 = lab.serve("cfg2.example.test", s.routes.clone());
    lab.start_dns(zone_for(&[
        ("cfg1.example.test", 10, 1, p1),
        ("cfg2.example.test", 20, 1, p2),
    ]));
    run_domain(&lab, &[])
        .ok()
        .says("server error 503; trying the next server");
}

#[test]
fn stalled_servers_time_out_then_fail_over() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    // One accepts TCP but never speaks TLS; one completes TLS, then never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let p_silent = silent.local_addr().unwrap().port();
    let p_stall = lab.serve(
        "cfg2.example.test",
        HashMap::from([("/bundle".to_string(), Reply::Stall)]),
    );
    let p_ok = lab.serve("cfg3.example.test", s.routes.clone());
    lab.start_dns(zone_for(&[
        ("cfg1.example.test", 10, 1, p_silent),
        ("cfg2.example.test", 20, 1, p_stall),
        ("cfg3.example.test", 30, 1, p_ok),
    ]));
    let run = run_domain(&lab, &["--io-timeout", "1"]);
    run.ok().says("cfg3.example.test");
    assert_eq!(run.stderr.matches("timed out").count(), 2, "{}", run.stderr);
    drop(silent);
}

#[test]
fn every_target_down_is_a_temporary_failure() {
    let mut lab = Lab::new();
    let (d1, d2) = (dead_port(), dead_port());
    lab.start_dns(zone_for(&[
        ("cfg1.example.test", 10, 1, d1),
        ("cfg2.example.test", 20, 1, d2),
    ]));
    run_domain(&lab, &[]).fails(75, "no configuration server answered (2 tried;");
}

#[test]
fn txt_path_defaults_to_root() {
    let mut lab = Lab::new();
    let mut routes = standard_routes(&lab).routes;
    let bundle = routes.remove("/bundle").unwrap();
    routes.insert("/".to_string(), bundle);
    let port = lab.serve("cfg1.example.test", routes);
    lab.start_dns(
        Zone::new()
            .srv(SRV, 0, 0, port, "cfg1.example.test")
            .a("cfg1.example.test", Ipv4Addr::LOCALHOST),
    );
    run_domain(&lab, &[])
        .ok()
        .says(&format!("bundle from https://cfg1.example.test:{port}/\n"));
}

#[test]
fn srv_target_dot_means_no_service() {
    let mut lab = Lab::new();
    lab.start_dns(Zone::new().srv(SRV, 0, 0, 0, "."));
    run_domain(&lab, &[]).fails(69, "offers no configuration service (target \".\")");
}

#[test]
fn nxdomain_is_reported_with_advice() {
    let mut lab = Lab::new();
    lab.start_dns(Zone::new().a("other.example.test", Ipv4Addr::LOCALHOST));
    let run = run_domain(&lab, &[]);
    run.fails(69, "NXDOMAIN").says("pass --server URL");
    assert!(
        run.error_line()
            .starts_with("preconf: error: discover: SRV _maemo_autoconf._tcp.example.test"),
        "{}",
        run.error_line()
    );
}

#[test]
fn custom_service_label() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", s.routes);
    lab.start_dns(
        Zone::new()
            .srv("_corp._tcp.example.test", 0, 0, port, "cfg1.example.test")
            .txt("_corp._tcp.example.test", "path=/bundle")
            .a("cfg1.example.test", Ipv4Addr::LOCALHOST),
    );
    run_domain(&lab, &["--service", "_corp._tcp"])
        .ok()
        .says("SRV _corp._tcp.example.test");
}

#[test]
fn silent_nameserver_is_a_temporary_failure() {
    let lab = Lab::new();
    // A UDP socket that never answers.
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--io-timeout", "0.3", "--dns"])
        .arg(quiet.local_addr().unwrap().to_string());
    Run::of(c).fails(75, "no nameserver answered");
}

#[test]
fn off_domain_target_needs_consent() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg.elsewhere.test", s.routes);
    lab.start_dns(zone_for(&[("cfg.elsewhere.test", 10, 1, port)]));
    // No terminal to ask and no --yes: refuse before any credential is sent.
    run_domain(&lab, &[]).fails(77, "cfg.elsewhere.test is outside your domain example.test");
    assert!(
        lab.servers[0].requests().is_empty(),
        "credentials went to an off-domain server"
    );
    run_domain(&lab, &["--yes"])
        .ok()
        .says("guard: cfg.elsewhere.test is outside example.test; accepted by --yes");
}

#[test]
fn explicit_server_skips_discovery() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", s.routes);
    lab.start_dns(Zone::new().a("cfg1.example.test", Ipv4Addr::LOCALHOST));
    let mut c = lab.preconf();
    c.args([
        "--no-exec",
        "--server",
        &format!("https://cfg1.example.test:{port}/bundle"),
    ]);
    Run::of(c)
        .ok()
        .says("domain: not needed")
        .says("discover: server https://cfg1.example.test");
    let mut c = lab.preconf();
    c.args([
        "--server",
        &format!("http://cfg1.example.test:{port}/bundle"),
    ]);
    Run::of(c).fails(64, "must be an https:// URL");
}

#[test]
fn truncated_udp_answer_is_asked_again_over_tcp() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", s.routes);
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]).truncate_udp());
    run_domain(&lab, &[])
        .ok()
        .says("fetch: bundle from https://cfg1.example.test");
    let tcp = lab
        .dns
        .as_ref()
        .unwrap()
        .tcp_queries
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        tcp >= 3,
        "SRV, TXT and A should each have gone over TCP; {tcp} did"
    );
}

#[test]
fn ipv6_only_server_and_nameserver() {
    let mut lab = Lab::new();
    lab.bind = std::net::Ipv6Addr::LOCALHOST.into();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg6.example.test", s.routes);
    let zone = Zone::new()
        .srv(SRV, 0, 0, port, "cfg6.example.test")
        .txt(SRV, "path=/bundle")
        .aaaa("cfg6.example.test", std::net::Ipv6Addr::LOCALHOST);
    lab.dns = Some(DnsServer::start_on(
        zone,
        std::net::Ipv6Addr::LOCALHOST.into(),
    ));
    run_domain(&lab, &[])
        .ok()
        .says("discover: asking [::1]:")
        .says(&format!(
            "fetch: bundle from https://cfg6.example.test:{port}/bundle"
        ));
}

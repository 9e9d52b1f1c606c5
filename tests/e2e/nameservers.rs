//! Against the DNS servers enterprises run: dnsmasq and unbound publish the
//! SRV, TXT and A records, and ordering and failover behave as with our own.

use std::net::SocketAddr;

use preconf_testlab::peers::{Peer, Records, dnsmasq_loopback, unbound_loopback};
use preconf_testlab::*;

/// Priority 10: a server that refuses connections. Priority 20: a heavy and
/// a weight-0 server, both working. Expect: the dead one, then the heavy one.
fn failover_through(start: fn(&std::path::Path, &Records) -> (Peer, SocketAddr), name: &str) {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let heavy = lab.serve("cfg-heavy.example.test", s.routes.clone());
    let light = lab.serve("cfg-light.example.test", s.routes);
    let dead = dead_port();
    let records = Records::loopback(
        SRV,
        &[
            ("cfg-light.example.test", 20, 0, light),
            ("cfg-dead.example.test", 10, 5, dead),
            ("cfg-heavy.example.test", 20, 65535, heavy),
        ],
    );
    let (_server, addr) = start(&lab.path(name), &records);
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec", "--dns", &addr.to_string()]);
    Run::of(c)
        .ok()
        .says(&format!("https://cfg-dead.example.test:{dead}/bundle (priority 10, weight 5), then https://cfg-heavy.example.test:{heavy}/bundle (priority 20, weight 65535), then https://cfg-light"))
        .says(&format!("https://cfg-dead.example.test:{dead}/bundle: connection refused; trying the next server (2 left)"))
        .says(&format!("fetch: bundle from https://cfg-heavy.example.test:{heavy}/bundle"));
    assert!(
        lab.servers[1].requests().is_empty(),
        "the weight-0 server was asked"
    );
}

#[test]
fn dnsmasq_srv_order_and_failover() {
    failover_through(dnsmasq_loopback, "dnsmasq");
}

#[test]
fn unbound_srv_order_and_failover() {
    failover_through(unbound_loopback, "unbound");
}

#[test]
fn unbound_nxdomain_for_a_domain_without_records() {
    let lab = Lab::new();
    let records = Records::loopback(SRV, &[("cfg.example.test", 10, 1, 443)]);
    let (_server, addr) = unbound_loopback(&lab.path("unbound"), &records);
    let mut c = lab.preconf();
    c.args(["--domain", "other.example.test", "--dns", &addr.to_string()]);
    Run::of(c).fails(
        69,
        "SRV _maemo_autoconf._tcp.other.example.test: no such name (NXDOMAIN",
    );
}

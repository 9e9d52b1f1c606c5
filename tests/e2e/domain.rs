//! Learning the domain from what DHCP left behind, and confirming it.

use preconf_testlab::*;

fn lab() -> Lab {
    three_domain_lab()
}

fn run_with(lab: &Lab, args: &[&str]) -> Run {
    let mut c = lab.preconf();
    c.arg("--no-exec").args(args);
    Run::of(c)
}

#[test]
fn dhclient_lease_file() {
    let lab = lab();
    let lease = lab.file("dhclient.leases", b"lease {\n  interface \"eth0\";\n  option domain-name \"old.test\";\n}\nlease {\n  interface \"eth0\";\n  option domain-name \"example.test\";\n  option domain-name-servers 127.0.0.1;\n}\n");
    run_with(&lab, &["--yes", "--lease-file", lease.to_str().unwrap()])
        .ok()
        .says(&format!("domain: example.test (from {})", lease.display()))
        .says("confirm: example.test (accepted by --yes)");
}

#[test]
fn networkd_and_networkmanager_lease_files() {
    let lab = lab();
    let empty = lab.file("nm/internal-eth0.lease", b"ADDRESS=198.51.100.7\n");
    let networkd = lab.file(
        "netif/leases/2",
        b"# This is private data. Do not parse.\nADDRESS=198.51.100.7\nDOMAINNAME=example.test\n",
    );
    // The first named file has no domain; the second one does.
    run_with(
        &lab,
        &[
            "--yes",
            "--lease-file",
            empty.to_str().unwrap(),
            "--lease-file",
            networkd.to_str().unwrap(),
        ],
    )
    .ok()
    .says(&format!("(from {})", networkd.display()));
}

#[test]
fn resolv_conf_search_when_no_lease() {
    let lab = lab();
    let resolv = lab.file(
        "resolv.conf",
        b"nameserver 127.0.0.1\nsearch example.test corp.test\n",
    );
    run_with(&lab, &["--yes", "--resolv-conf", resolv.to_str().unwrap()])
        .ok()
        .says(&format!("domain: example.test (from {})", resolv.display()));
}

#[test]
fn named_sources_only() {
    let lab = lab();
    let missing = lab.path("no-such.leases");
    run_with(&lab, &["--yes", "--lease-file", missing.to_str().unwrap()]).fails(66, "lease file");
    // A named resolv.conf without a domain: nothing else is consulted.
    let resolv = lab.file("resolv.conf", b"nameserver 127.0.0.1\n");
    run_with(&lab, &["--yes", "--resolv-conf", resolv.to_str().unwrap()]).fails(
        69,
        "no DNS domain was found in the DHCP leases or resolv.conf; pass --domain NAME",
    );
}

#[test]
fn learned_domain_needs_confirmation() {
    let lab = lab();
    let resolv = lab.file("resolv.conf", b"search example.test\n");
    run_with(&lab, &["--resolv-conf", resolv.to_str().unwrap()]).fails(64, "no terminal or askpass helper to confirm the domain example.test; pass --yes to accept it, or --domain NAME.");
}

#[test]
fn nameservers_from_resolv_conf() {
    let mut lab = lab();
    // resolv.conf cannot name a port: serve the zone on port 53 of a loopback
    // address of our own.
    let zone = zone_for(&[("cfg1.example.test", 10, 1, lab.servers[0].port)]);
    let dns = DnsServer::start_port_53(zone);
    let ip = dns.addr.ip();
    lab.dns = Some(dns);
    let resolv = lab.file(
        "resolv.conf",
        format!("nameserver {ip}\nsearch example.test\n").as_bytes(),
    );
    let mut c = command();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("PRECONF_PASSWORD", PASSWORD)
        .args(["--yes", "--no-exec", "--user", LOGIN, "--ca"])
        .arg(lab.path("ca.pem"))
        .arg("--root")
        .arg(lab.root())
        .arg("--resolv-conf")
        .arg(&resolv);
    Run::of(c).ok().says("domain: example.test (from");
    assert!(
        lab.dns
            .as_ref()
            .unwrap()
            .queries
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 3,
        "SRV, TXT and A go to resolv.conf's nameserver"
    );
}

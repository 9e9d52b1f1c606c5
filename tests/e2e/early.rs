//! What is wrong on the device itself shows before anything else: TLS
//! material is checked before the first question and the first packet,
//! and loading settings reads no device file.

use std::sync::atomic::Ordering;

use preconf_testlab::*;

#[test]
fn a_bad_ca_file_fails_before_any_question_or_packet() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", s.routes);
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    let lease = lab.file(
        "dhclient.leases",
        b"lease {\n  option domain-name \"example.test\";\n}\n",
    );
    let not_pem = lab.file("corp-ca.pem", b"this is not a certificate\n");
    // A learned domain wants confirming: without a terminal that question
    // would fail the run (64), were the CA not checked first.
    let mut c = lab.preconf_trusting(&not_pem);
    c.arg("--lease-file").arg(&lease);
    Run::of(c).fails(78, "corp-ca.pem is not a usable PEM file");
    assert_eq!(lab.dns.as_ref().unwrap().queries.load(Ordering::SeqCst), 0);
    assert!(lab.servers[0].requests().is_empty());

    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--client-cert"])
        .arg(&not_pem)
        .arg("--client-key")
        .arg(&not_pem);
    Run::of(c).fails(78, "corp-ca.pem is not a usable PEM file");
    assert_eq!(lab.dns.as_ref().unwrap().queries.load(Ordering::SeqCst), 0);
}

#[test]
fn status_does_not_read_the_device_id_file() {
    let lab = Lab::new();
    let missing = lab.path("no-such-serial");
    lab.file(
        "root/etc/preconf/serial.conf",
        format!("device-id-file={}\n", missing.display()).as_bytes(),
    );
    let mut c = lab.preconf();
    c.arg("status");
    Run::of(c).fails(66, "this device is not provisioned");

    // A run needs the identity, so there the file must be readable.
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN]);
    Run::of(c).fails(66, "the device identity file");
}

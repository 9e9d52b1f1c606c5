//! Multicast discovery, for real: `preconf listen` runs in the server
//! namespace, a prober in the client namespace sends probes to the group
//! 225.0.0.0:7777 over the veth pair, and the answer comes back unicast.
//! The prober is a few lines of Perl (perl-base is on every Debian).

use std::process::Command;

use preconf_testlab::netns::{CLIENT_IP, Net, SERVER_IP};
use preconf_testlab::peers::Peer;
use preconf_testlab::*;

const GROUP: &str = "225.0.0.0";
const PORT: &str = "7777";

/// Sends each argument after the first two to HOST:PORT from CLIENT_IP,
/// then prints every datagram that comes back within WAIT seconds as
/// `ADDRESS:PORT TEXT`, one a line. Usage: HOST PORT WAIT FROM DATAGRAM...
const PROBER: &str = r#"
use strict; use IO::Socket::INET; use Socket;
my ($host, $port, $wait, $from, @datagrams) = @ARGV;
my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => $from) or die "socket: $!";
my $to = sockaddr_in($port, inet_aton($host));
for my $d (@datagrams) { defined $s->send($d, 0, $to) or die "send: $!"; }
$| = 1;
my $end = time + $wait;
while ((my $left = $end - time) > 0) {
    my $rin = ''; vec($rin, fileno($s), 1) = 1;
    last unless select($rin, undef, undef, $left) > 0;
    my $peer = $s->recv(my $buf, 2048) or next;
    my ($p, $a) = sockaddr_in($peer);
    print inet_ntoa($a), ":$p $buf\n";
}
"#;

/// A command that runs what its arguments say in namespace `ns`.
fn in_namespace(net: &Net, ns: &str) -> Command {
    let [program, args @ ..] = net.exec(ns);
    let mut c = Command::new(program);
    c.args(args);
    c
}

struct World {
    /// Holds the listener's root and log.
    _lab: Lab,
    listen: Peer,
    // Dropped last: the namespaces outlive the processes in them.
    net: Net,
}

fn world() -> World {
    let net = Net::new();
    net.address_client();
    net.route_multicast();
    let lab = Lab::new();
    let root = lab.root();
    std::fs::create_dir_all(&root).unwrap();
    let mut c = in_namespace(&net, &net.server);
    c.args(argv0())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .arg("listen")
        .arg("--root")
        .arg(&root)
        .args([
            "--set",
            "provisioning.spid=ACME-1",
            "--set",
            "prm.http.provider.secure=false",
            "--set",
            "prm.require.auth=false",
            "--set",
            &format!("prm.http.provider.address={SERVER_IP}"),
            "--set",
            "prm.http.provider.port=8080",
            "--set",
            &format!("mbs.multicast.port={PORT}"),
        ]);
    let mut listen = Peer::spawn("preconf listen", c, &lab.path("listen.log"));
    listen.wait_for_log(&format!("preconf: listen: discovery on {GROUP}:{PORT}"));
    World {
        _lab: lab,
        listen,
        net,
    }
}

impl World {
    /// What comes back within `wait` seconds of sending `datagrams` from
    /// the client to `host`: one `ADDRESS:PORT TEXT` a datagram.
    fn probe(&self, host: &str, wait: u32, datagrams: &[&str]) -> Vec<String> {
        let out = in_namespace(&self.net, &self.net.client)
            .args([
                "perl",
                "-e",
                PROBER,
                host,
                PORT,
                &wait.to_string(),
                CLIENT_IP,
            ])
            .args(datagrams)
            .output()
            .expect("perl (perl-base) runs the prober");
        assert!(
            out.status.success(),
            "the prober failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn log(&self) -> String {
        self.listen.log_text()
    }
}

fn expected_answer() -> String {
    format!(
        "{SERVER_IP}:{PORT} ACME-1#{SERVER_IP}#8080#http#0#preconf/{}",
        env!("CARGO_PKG_VERSION")
    )
}

#[test]
fn a_probe_to_the_group_is_answered_from_the_other_namespace() {
    let mut w = world();
    let answers = w.probe(GROUP, 3, &["PRECONF-PROBE 1\n"]);
    assert_eq!(answers, [expected_answer()], "{}", w.log());
    let log = w.log();
    assert!(
        log.contains(&format!(
            "preconf: listen: answered a probe from {CLIENT_IP}:"
        )),
        "{log}"
    );
    // Straight to the device's address too, once a second has passed
    // (one answer a second to an address).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        w.probe(SERVER_IP, 3, &["PRECONF-PROBE 1"]),
        [expected_answer()]
    );
    w.listen.assert_running();
}

#[test]
fn a_malformed_probe_gets_no_answer_and_a_good_one_still_does() {
    let mut w = world();
    let oversized = format!("PRECONF-PROBE 1{}", " ".repeat(100));
    let bad = w.probe(
        GROUP,
        2,
        &["PRECONF-PROBE 2\n", "hello", "preconf-probe 1", &oversized],
    );
    assert_eq!(bad, Vec::<String>::new(), "{}", w.log());
    assert_eq!(w.probe(GROUP, 3, &["PRECONF-PROBE 1"]), [expected_answer()]);
    let log = w.log();
    // The first datagram ignored is noted, the next ones not at once; the
    // datagrams themselves never appear.
    assert!(
        log.contains("preconf: listen: ignored 1 datagram(s) that were not probes"),
        "{log}"
    );
    assert_eq!(log.matches("preconf: listen: ignored").count(), 1, "{log}");
    assert!(!log.contains("hello"), "{log}");
    w.listen.assert_running();
}

#[test]
fn a_flood_of_probes_from_one_address_gets_one_answer() {
    let mut w = world();
    let flood = vec!["PRECONF-PROBE 1"; 20];
    assert_eq!(
        w.probe(GROUP, 2, &flood),
        [expected_answer()],
        "{}",
        w.log()
    );
    w.listen.assert_running();
}

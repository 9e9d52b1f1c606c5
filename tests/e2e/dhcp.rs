//! Real DHCP: dnsmasq hands out the domain and itself as nameserver in a
//! server namespace; each real DHCP client takes a lease in a client
//! namespace, and `preconf` finds the domain from what it left behind and
//! provisions through nginx, all inside the two namespaces.

use std::process::Command;
use std::time::{Duration, Instant};

use preconf_testlab::netns::{Net, SERVER_IP};
use preconf_testlab::peers::{Nginx, NginxSpec, Peer, Records};
use preconf_testlab::*;

struct World {
    lab: Lab,
    _nginx: Nginx,
    dnsmasq: Peer,
    // Dropped last: the namespaces outlive the processes in them.
    net: Net,
}

fn world() -> World {
    let net = Net::new();
    let lab = Lab::new();
    let www = nginx_www(&lab, &[]);
    let server = lab.server_ca.issue(&["cfg.example.test"]);
    let nginx = Nginx::start(
        &NginxSpec {
            dir: &lab.path("nginx"),
            addr: format!("{SERVER_IP}:8443").parse().unwrap(),
            server_name: "cfg.example.test",
            cert_pem: &server.cert_pem,
            key_pem: &server.key_pem,
            client_ca: None,
            users: &[(LOGIN, PASSWORD)],
            www: &www,
        },
        &net.exec(&net.server),
    );
    let records = Records {
        srv_name: SRV.to_string(),
        targets: vec![("cfg.example.test".into(), 10, 10, 8443)],
        txt: Some("path=/bundle".into()),
        a: vec![("cfg.example.test".into(), SERVER_IP.parse().unwrap())],
    };
    let dir = lab.path("dnsmasq");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &net.server,
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--log-facility=-",
        "--user=root",
        "--bind-interfaces",
        "--except-interface=lo",
        "--dhcp-authoritative",
        "--log-dhcp",
    ])
    .arg(format!("--interface={}", net.server_if))
    .args([
        "--domain=example.test",
        "--dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,1h",
        "--dhcp-option=option:domain-search,example.test",
    ])
    .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
    .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
    .args(records.dnsmasq_args());
    let mut dnsmasq = Peer::spawn("dnsmasq", cmd, &dir.join("dnsmasq.log"));
    dnsmasq.wait_for_log("DHCP, IP range");
    World {
        lab,
        _nginx: nginx,
        dnsmasq,
        net,
    }
}

impl World {
    /// `preconf` in the client namespace, with no --dns: the nameserver is
    /// whatever DHCP gave.
    fn preconf(&self, args: &[&str]) -> Run {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.net.client])
            .args(argv0())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("PRECONF_PASSWORD", PASSWORD)
            .args(self.lab.base_args(&self.lab.path("ca.pem")))
            .args(["--yes", "--no-exec", "--user", LOGIN, "--io-timeout", "5"])
            .args(args);
        Run::of(c)
    }

    /// Runs a DHCP client to completion in the client namespace.
    #[track_caller]
    fn dhcp(&self, what: &str, client: &[&str], env: &[(&str, String)]) {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.net.client])
            .args(client)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what} ({e}); .ci/deps installs it"));
        assert!(
            out.status.success(),
            "{what} got no lease ({}):\n{}{}\n--- dnsmasq:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.dnsmasq.log_text()
        );
    }
}

#[test]
fn busybox_udhcpc_writes_resolv_conf() {
    let w = world();
    let resolv = w.lab.path("udhcpc-resolv.conf");
    let script = w.lab.file(
        "udhcpc.script",
        b"#!/bin/sh\ncase \"$1\" in\n  bound|renew)\n    ip addr flush dev \"$interface\"\n    ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n    { [ -n \"$search\" ] && echo \"search $search\"; [ -n \"$domain\" ] && echo \"domain $domain\"; for d in $dns; do echo \"nameserver $d\"; done; } > \"$RESOLV_OUT\"\n    ;;\nesac\nexit 0\n",
    );
    std::fs::set_permissions(
        &script,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let iface = w.net.client_if.clone();
    w.dhcp(
        "busybox udhcpc",
        &[
            "busybox",
            "udhcpc",
            "-i",
            &iface,
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "2",
            "-s",
            script.to_str().unwrap(),
            "-O",
            "search",
        ],
        &[("RESOLV_OUT", resolv.display().to_string())],
    );
    let conf = read(&resolv);
    assert!(conf.contains(&format!("nameserver {SERVER_IP}")), "{conf}");
    w.preconf(&["--resolv-conf", resolv.to_str().unwrap()])
        .ok()
        .says(&format!("domain: example.test (from {})", resolv.display()))
        .says("fetch: bundle from https://cfg.example.test:8443/bundle");
}

/// Kills the dhclient daemon by the pid in its pid file.
struct PidFile(std::path::PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[test]
fn isc_dhclient_lease_file() {
    let w = world();
    let conf = w.lab.file("dhclient.conf", b"request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, domain-search;\n");
    let leases = w.lab.path("dhclient.leases");
    let _daemon = PidFile(w.lab.path("dhclient.pid"));
    let iface = w.net.client_if.clone();
    w.dhcp(
        "dhclient",
        &[
            "dhclient",
            "-1",
            "-v",
            "-cf",
            conf.to_str().unwrap(),
            "-lf",
            leases.to_str().unwrap(),
            "-pf",
            w.lab.path("dhclient.pid").to_str().unwrap(),
            &iface,
        ],
        &[],
    );
    assert!(
        read(&leases).contains("option domain-name \"example.test\""),
        "{}",
        read(&leases)
    );
    // dhclient-script wrote the client's private /etc/resolv.conf.
    assert!(
        w.net
            .client_resolv_conf()
            .contains(&format!("nameserver {SERVER_IP}")),
        "{}",
        w.net.client_resolv_conf()
    );
    w.preconf(&["--lease-file", leases.to_str().unwrap()])
        .ok()
        .says(&format!("domain: example.test (from {})", leases.display()))
        .says("fetch: bundle from https://cfg.example.test:8443/bundle");
}

#[test]
fn systemd_networkd_lease() {
    let w = world();
    let network = w.lab.file(
        "network/50-preconf.network",
        format!(
            "[Match]\nName={}\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nUseDomains=yes\n",
            w.net.client_if
        )
        .as_bytes(),
    );
    let netif = w.lab.path("netif");
    std::fs::create_dir_all(&netif).unwrap();
    assert!(
        Command::new("chown")
            .args(["systemd-network:systemd-network"])
            .arg(&netif)
            .status()
            .unwrap()
            .success(),
        "no systemd-network user"
    );
    // A private mount table: networkd's config, its state dir in the lab
    // (so the lease is readable from outside), and a read-only /sys, which
    // tells networkd it runs in a container and must not touch udev.
    let sh = format!(
        "mount --bind {net} /etc/systemd/network && mount --bind {netif} /run/systemd/netif && mount -o remount,ro /sys && exec /lib/systemd/systemd-networkd",
        net = network.parent().unwrap().display(),
        netif = netif.display()
    );
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &w.net.client,
        "unshare",
        "-m",
        "sh",
        "-c",
        &sh,
    ])
    .env("SYSTEMD_LOG_LEVEL", "debug");
    let mut networkd = Peer::spawn("systemd-networkd", cmd, &w.lab.path("networkd.log"));
    let leases = netif.join("leases");
    let t0 = Instant::now();
    let lease = loop {
        let found = std::fs::read_dir(&leases)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path());
        if let Some(p) = found.filter(|p| read(p).contains("DOMAINNAME=")) {
            break p;
        }
        networkd.assert_running();
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "systemd-networkd wrote no lease:\n{}",
            networkd.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // networkd writes no resolv.conf: the nameserver comes from the lease.
    let empty = w.lab.file("empty-resolv.conf", b"");
    w.preconf(&[
        "--lease-file",
        lease.to_str().unwrap(),
        "--resolv-conf",
        empty.to_str().unwrap(),
    ])
    .ok()
    .says(&format!(
        "discover: asking {SERVER_IP}:53 (from the DHCP lease)"
    ))
    .says(&format!("domain: example.test (from {})", lease.display()))
    .says("fetch: bundle from https://cfg.example.test:8443/bundle");
    drop(networkd);
}

//! A two-host network of our own: a server and a client network namespace
//! joined by a veth pair, on 198.51.100.0/24 (TEST-NET-2), which exists only
//! inside them. Removed when dropped, also when the test fails.

use std::path::PathBuf;
use std::process::Command;

use data_encoding::HEXLOWER;

pub const SERVER_IP: &str = "198.51.100.1";
/// The client's address, once [`Net::address_client`] gave it one.
pub const CLIENT_IP: &str = "198.51.100.2";

pub struct Net {
    pub server: String,
    pub client: String,
    /// The client's interface.
    pub client_if: String,
    /// The server's interface.
    pub server_if: String,
    etc: PathBuf,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) is needed for network tests");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    /// Creates both namespaces (needs root) and the link between them.
    #[expect(
        clippy::new_without_default,
        reason = "namespaces are made on purpose, not by default"
    )]
    #[track_caller]
    pub fn new() -> Net {
        crate::need_root("it creates network namespaces joined by a veth pair");
        let mut b = [0u8; 3];
        getrandom::fill(&mut b).unwrap();
        let tag = HEXLOWER.encode(&b);
        let net = Net {
            server: format!("pcsrv-{tag}"),
            client: format!("pccli-{tag}"),
            client_if: format!("pc{tag}c"),
            server_if: format!("pc{tag}s"),
            etc: PathBuf::from(format!("/etc/netns/pccli-{tag}")),
        };
        let server_if = net.server_if.clone();
        ip(&["netns", "add", &net.server]);
        ip(&["netns", "add", &net.client]);
        ip(&[
            "link",
            "add",
            &server_if,
            "type",
            "veth",
            "peer",
            "name",
            &net.client_if,
        ]);
        ip(&["link", "set", &server_if, "netns", &net.server]);
        ip(&["link", "set", &net.client_if, "netns", &net.client]);
        ip(&[
            "-n",
            &net.server,
            "addr",
            "add",
            &format!("{SERVER_IP}/24"),
            "dev",
            &server_if,
        ]);
        for (ns, dev) in [(&net.server, &server_if), (&net.client, &net.client_if)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // `ip netns exec` mounts this over /etc/resolv.conf for the client,
        // so DHCP client scripts never touch the machine's own.
        std::fs::create_dir_all(&net.etc).unwrap();
        std::fs::write(net.etc.join("resolv.conf"), "").unwrap();
        net
    }

    /// The words that run a command in namespace `ns`.
    pub fn exec<'a>(&self, ns: &'a str) -> [&'a str; 4] {
        ["ip", "netns", "exec", ns]
    }

    /// Gives the client [`CLIENT_IP`]: for tests without a DHCP server.
    pub fn address_client(&self) {
        ip(&[
            "-n",
            &self.client,
            "addr",
            "add",
            &format!("{CLIENT_IP}/24"),
            "dev",
            &self.client_if,
        ]);
    }

    /// Routes multicast (224.0.0.0/4) over the link in both namespaces,
    /// which have no default route: joining a group and sending to one
    /// need a route to it.
    pub fn route_multicast(&self) {
        for (ns, dev) in [
            (&self.server, &self.server_if),
            (&self.client, &self.client_if),
        ] {
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]);
        }
    }

    /// The client's private resolv.conf, as its DHCP client left it.
    pub fn client_resolv_conf(&self) -> String {
        std::fs::read_to_string(self.etc.join("resolv.conf")).unwrap_or_default()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

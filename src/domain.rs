//! Step 1: learn the DNS domain the network handed out by DHCP, and the
//! nameservers to ask.
//!
//! Sources, first hit wins: DHCP lease files (dhclient's
//! `option domain-name "x";`, systemd-networkd's and NetworkManager's
//! `DOMAINNAME=x`), then resolv.conf's `domain` or first `search` entry.

use std::fmt;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::error::{Error, Exit, Result, Step};
use crate::net::dns::domain_name;

/// A domain and where it was found, for the step line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Learned {
    pub(crate) domain: String,
    pub(crate) source: String,
    /// Nameservers the same DHCP lease named, if any.
    pub(crate) nameservers: Vec<IpAddr>,
}

/// Where lease files live when none is named: newest file wins.
const LEASE_GLOBS: &[(&str, &str)] = &[
    ("/var/lib/dhcp", ".leases"),
    ("/var/lib/dhclient", ".leases"),
    ("/run/systemd/netif/leases", ""),
    ("/var/lib/NetworkManager", ".lease"),
];

const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Looks in the named lease files and resolv.conf, or in the well-known
/// places when neither is named.
pub(crate) fn learn(
    lease_files: &[PathBuf],
    resolv_conf: Option<&Path>,
) -> Result<Option<Learned>> {
    let explicit = !lease_files.is_empty() || resolv_conf.is_some();
    let leases = if explicit {
        for f in lease_files {
            if !f.is_file() {
                return Err(Error::new(
                    Step::Domain,
                    Exit::NoInput,
                    format!(
                        "lease file {} does not exist; check --lease-file.",
                        f.display()
                    ),
                ));
            }
        }
        lease_files.to_vec()
    } else {
        well_known_leases()
    };
    for f in &leases {
        let Ok(text) = fs::read_to_string(f) else {
            continue;
        };
        if let Some(d) = from_lease(&text) {
            return Ok(Some(Learned {
                domain: d,
                source: f.display().to_string(),
                nameservers: lease_nameservers(&text),
            }));
        }
    }
    let resolv = match resolv_conf {
        Some(p) => Some(p.to_path_buf()),
        None if !explicit => Some(PathBuf::from(RESOLV_CONF)),
        None => None,
    };
    if let Some(p) = resolv {
        let text = fs::read_to_string(&p).map_err(|e| {
            Error::new(
                Step::Domain,
                Exit::NoInput,
                format!("cannot read {}: {e}; check --resolv-conf.", p.display()),
            )
        });
        // The default resolv.conf may legitimately be missing on a fresh device.
        let text = match (text, resolv_conf.is_some()) {
            (Ok(t), _) => t,
            (Err(e), true) => return Err(e),
            (Err(_), false) => String::new(),
        };
        if let Some(d) = from_resolv_conf(&text) {
            return Ok(Some(Learned {
                domain: d,
                source: p.display().to_string(),
                nameservers: Vec::new(),
            }));
        }
    }
    Ok(None)
}

fn well_known_leases() -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for (dir, suffix) in LEASE_GLOBS {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if !name.to_string_lossy().ends_with(suffix) || !p.is_file() {
                continue;
            }
            let mtime = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            found.push((mtime, p));
        }
    }
    found.sort_by_key(|e| std::cmp::Reverse(e.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// The domain in a lease file of either syntax. dhclient appends leases,
/// so the last `domain-name` is the newest.
fn from_lease(text: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("DOMAINNAME=") {
            found = domain_name(v).or(found);
        } else if let Some(rest) = line.strip_prefix("option domain-name ") {
            let v = rest.trim_end_matches(';').trim().trim_matches('"');
            // dhclient may carry several space-separated names; the first is the domain.
            found = v.split_whitespace().next().and_then(domain_name).or(found);
        }
    }
    found
}

/// The nameservers of a lease (`DNS=a b`, `option domain-name-servers a, b;`),
/// for devices whose DHCP client does not write resolv.conf (networkd).
fn lease_nameservers(text: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let list = line
            .strip_prefix("DNS=")
            .or_else(|| line.strip_prefix("option domain-name-servers "));
        if let Some(list) = list {
            found = list
                .trim_end_matches(';')
                .split([' ', ','])
                .filter_map(|a| a.trim().parse().ok())
                .collect();
        }
    }
    found
}

/// resolv.conf: the last `domain` or `search` line counts (as in libc);
/// from `search`, its first entry.
fn from_resolv_conf(text: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("domain") | Some("search") => {
                found = words.next().and_then(domain_name);
            }
            _ => {}
        }
    }
    found
}

/// The nameservers a run asks, and where they came from.
pub(crate) struct Nameservers {
    pub(crate) addrs: Vec<SocketAddr>,
    from: String,
}

impl fmt::Display for Nameservers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.addrs.is_empty() {
            return write!(f, "no nameserver (from {})", self.from);
        }
        let list: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        write!(f, "{} (from {})", list.join(", "), self.from)
    }
}

/// `--dns`, else the nameservers of resolv.conf, else those of the DHCP
/// lease the domain came from (systemd-networkd writes no resolv.conf).
pub(crate) fn nameservers(
    dns: &[SocketAddr],
    resolv_conf: Option<&Path>,
    lease: &[IpAddr],
) -> Result<Nameservers> {
    if !dns.is_empty() {
        return Ok(Nameservers {
            addrs: dns.to_vec(),
            from: "--dns".into(),
        });
    }
    let path = resolv_conf.unwrap_or(Path::new(RESOLV_CONF));
    let from_resolv = match fs::read_to_string(path) {
        Ok(text) => nameservers_of(&text),
        // A device may have no resolv.conf yet; a named one must be there.
        Err(_) if resolv_conf.is_none() => Vec::new(),
        Err(e) => {
            return Err(Error::new(
                Step::Settings,
                Exit::NoInput,
                format!("cannot read {}: {e}; check --resolv-conf.", path.display()),
            ));
        }
    };
    if !from_resolv.is_empty() || lease.is_empty() {
        return Ok(Nameservers {
            addrs: from_resolv,
            from: path.display().to_string(),
        });
    }
    Ok(Nameservers {
        addrs: lease.iter().map(|ip| SocketAddr::new(*ip, 53)).collect(),
        from: "the DHCP lease".into(),
    })
}

/// The nameservers of a resolv.conf text.
fn nameservers_of(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        // Drop an IPv6 zone ("fe80::1%eth0"): std cannot parse it.
        .filter_map(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhclient_last_lease_wins() {
        let t = "lease {\n  option domain-name \"old.example\";\n}\nlease {\n  interface \"eth0\";\n  option domain-name \"Corp.Example.COM\";\n}\n";
        assert_eq!(from_lease(t).as_deref(), Some("corp.example.com"));
    }

    #[test]
    fn lease_nameservers_both_syntaxes() {
        let d = "lease {\n  option domain-name-servers 198.51.100.1, 198.51.100.2;\n}\n";
        assert_eq!(lease_nameservers(d).len(), 2);
        let n = "ADDRESS=198.51.100.7\nDNS=198.51.100.1 2001:db8::1\n";
        assert_eq!(
            lease_nameservers(n),
            vec![
                "198.51.100.1".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn networkd_lease() {
        let t = "# This is private data. Do not parse.\nADDRESS=198.51.100.10\nDOMAINNAME=example.test\n";
        assert_eq!(from_lease(t).as_deref(), Some("example.test"));
    }

    #[test]
    fn resolv_conf_domain_or_first_search() {
        assert_eq!(
            from_resolv_conf("nameserver 1.2.3.4\nsearch a.example b.example\n").as_deref(),
            Some("a.example")
        );
        assert_eq!(
            from_resolv_conf("search a.example\ndomain d.example.\n").as_deref(),
            Some("d.example")
        );
        assert_eq!(from_resolv_conf("nameserver 1.2.3.4\n"), None);
    }

    #[test]
    fn resolv_conf_nameservers() {
        let t = "# x\nnameserver 192.0.2.1\nnameserver ::1\nnameserver fe80::1%eth0\nsearch example.com\n";
        let ns = nameservers_of(t);
        assert_eq!(ns.len(), 3);
        assert_eq!(ns[0], "192.0.2.1:53".parse().unwrap());
        assert_eq!(ns[1], "[::1]:53".parse().unwrap());
    }
}

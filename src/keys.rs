//! The settings keys, documented once, and the `key=value` text format that
//! settings files and factory properties use.
//!
//! This file has no dependencies: `build.rs` includes it too, to check a
//! vendor's factory properties when the binary is built.

/// How a key takes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A switch: present means true.
    Switch,
    /// One value; a later one replaces it.
    One(&'static str),
    /// Repeatable: every value is kept, in order.
    Many(&'static str),
}

/// One setting, documented once: this table drives parsing and `--help`.
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub group: &'static str,
    pub help: &'static str,
}

pub const GROUP_DOMAIN: &str = "Where the domain comes from";
pub const GROUP_DISCOVER: &str = "Finding the configuration server";
pub const GROUP_LOGIN: &str = "Logging in";
pub const GROUP_TLS: &str = "Trust (TLS)";
pub const GROUP_INSTALL: &str = "Installing and handing over";
pub const GROUP_LIMITS: &str = "Limits";

#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    Key { name: "domain", kind: Kind::One("NAME"), group: GROUP_DOMAIN,
          help: "Use this DNS domain; no DHCP lookup and no question asked." },
    Key { name: "lease-file", kind: Kind::Many("PATH"), group: GROUP_DOMAIN,
          help: "Read the domain from this DHCP lease file (dhclient, systemd-networkd or NetworkManager); repeatable. Only named files are read then." },
    Key { name: "resolv-conf", kind: Kind::One("PATH"), group: GROUP_DOMAIN,
          help: "Read 'domain'/'search' and the nameservers from this file instead of /etc/resolv.conf." },
    Key { name: "yes", kind: Kind::Switch, group: GROUP_DOMAIN,
          help: "Accept the learned domain and any off-domain server without asking." },
    Key { name: "service", kind: Kind::One("LABEL"), group: GROUP_DISCOVER,
          help: "SRV label to look up under the domain [default: _maemo_autoconf._tcp]." },
    Key { name: "dns", kind: Kind::Many("IP[:PORT]"), group: GROUP_DISCOVER,
          help: "Ask this nameserver for every lookup instead of resolv.conf's; repeatable." },
    Key { name: "server", kind: Kind::One("URL"), group: GROUP_DISCOVER,
          help: "Fetch the bundle from this https URL; skips the domain and SRV discovery." },
    Key { name: "user", kind: Kind::One("NAME"), group: GROUP_LOGIN,
          help: "Login name; the password is asked on the terminal, or taken from PRECONF_ASKPASS or PRECONF_PASSWORD." },
    Key { name: "device-id", kind: Kind::One("ID"), group: GROUP_LOGIN,
          help: "Device identity sent to the server (header X-Preconf-Device-Id)." },
    Key { name: "device-id-file", kind: Kind::One("PATH"), group: GROUP_LOGIN,
          help: "Read the device identity from the first line of this file (a serial number, /etc/machine-id), unless --device-id is given." },
    Key { name: "ca", kind: Kind::Many("PEM"), group: GROUP_TLS,
          help: "Trust the CA certificates in this PEM file; repeatable. CAs built into the binary are trusted too." },
    Key { name: "system-roots", kind: Kind::Switch, group: GROUP_TLS,
          help: "Also trust the system's CA store (/etc/ssl/certs/ca-certificates.crt)." },
    Key { name: "client-cert", kind: Kind::One("PEM"), group: GROUP_TLS,
          help: "Present this device certificate (chain) to the server: mutual TLS." },
    Key { name: "client-key", kind: Kind::One("PEM"), group: GROUP_TLS,
          help: "Private key of --client-cert." },
    Key { name: "root", kind: Kind::One("DIR"), group: GROUP_INSTALL,
          help: "Write everything under DIR (install paths, state, dpkg's root) and run the configurator from it [default: /]." },
    Key { name: "state-dir", kind: Kind::One("DIR"), group: GROUP_INSTALL,
          help: "Keep the bundle, certificates and receipt here [default: ROOT/var/lib/preconf]." },
    Key { name: "force", kind: Kind::Switch, group: GROUP_INSTALL,
          help: "Provision again even if a receipt says this device is done." },
    Key { name: "no-exec", kind: Kind::Switch, group: GROUP_INSTALL,
          help: "Install, then print the configurator's command instead of running it." },
    Key { name: "timeout", kind: Kind::One("SECS"), group: GROUP_LIMITS,
          help: "Give up on the whole run after SECS, not counting time spent answering questions [default: 600]." },
    Key { name: "io-timeout", kind: Kind::One("SECS"), group: GROUP_LIMITS,
          help: "Give up on a connect, a DNS answer or a silent read after SECS [default: 15]." },
];

pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Parses `key=value` lines (`#` comments, blank lines ignored; a switch is
/// `key=true` or `key=false`). Keys must be known; the error names the line.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {n} is not key=value"));
        };
        let (k, v) = (k.trim(), v.trim());
        let Some(found) = key(k) else {
            let known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
            return Err(format!(
                "line {n}: unknown key '{k}' (known: {})",
                known.join(", ")
            ));
        };
        if found.kind == Kind::Switch && !matches!(v, "true" | "false") {
            return Err(format!(
                "line {n}: {k} is a switch; write {k}=true or {k}=false"
            ));
        }
        if v.is_empty() {
            return Err(format!("line {n}: {k} has no value"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_checked() {
        let ok =
            parse_properties("# factory\n\nservice = _corp._tcp\nca=/a.pem\nca=/b.pem\nyes=true\n")
                .unwrap();
        assert_eq!(ok.len(), 4);
        assert_eq!(ok[0], ("service".to_string(), "_corp._tcp".to_string()));
        assert!(
            parse_properties("servce=x")
                .unwrap_err()
                .contains("line 1: unknown key 'servce'")
        );
        assert!(
            parse_properties("\nyes=maybe")
                .unwrap_err()
                .contains("line 2: yes is a switch")
        );
        assert!(
            parse_properties("just words")
                .unwrap_err()
                .contains("not key=value")
        );
        assert!(parse_properties("dns=").unwrap_err().contains("no value"));
    }
}

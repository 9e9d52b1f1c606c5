//! The bundle, format 1: what the configuration server sends back.
//!
//! Unknown fields are ignored so servers can add to the format; missing
//! required fields and wrong values are errors that name the field.

use nanoserde::{DeJson, SerJson};

use crate::url::Url;

pub const FORMAT: u32 = 1;

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Bundle {
    pub format: u32,
    pub user: Option<User>,
    pub device: Option<Device>,
    pub configurator: Configurator,
    pub config_url: Option<String>,
    pub certificates: Option<Vec<Certificate>>,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct User {
    pub name: Option<String>,
    pub email: Option<String>,
    pub login: Option<String>,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Device {
    pub id: Option<String>,
    pub password: Option<String>,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Configurator {
    pub name: String,
    pub packages: Vec<Package>,
    pub command: Vec<String>,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Package {
    pub arch: String,
    #[nserde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    /// Where an `exec` package is placed.
    pub path: Option<String>,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Certificate {
    pub name: String,
    pub pem: String,
}

/// How a package is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Debian package, given to dpkg.
    Deb,
    /// A single executable file, placed at `path`.
    Exec,
}

impl Package {
    pub fn kind(&self) -> Kind {
        // Checked by validate(), so anything else never reaches here.
        if self.kind == "deb" {
            Kind::Deb
        } else {
            Kind::Exec
        }
    }
}

/// Parses and checks a bundle; the error is a phrase naming the problem.
pub fn parse(bytes: &[u8]) -> Result<Bundle, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    let bundle = Bundle::deserialize_json(text)
        .map_err(|e| format!("it is not a valid format-1 bundle ({e})"))?;
    validate(&bundle)?;
    Ok(bundle)
}

fn validate(b: &Bundle) -> Result<(), String> {
    if b.format != FORMAT {
        return Err(format!(
            "it is format {}, and this preconf reads format {FORMAT}; update preconf or ask for a format-{FORMAT} bundle",
            b.format
        ));
    }
    let c = &b.configurator;
    if c.command.first().is_none_or(|p| !p.starts_with('/')) {
        return Err("configurator.command must start with an absolute path".into());
    }
    if c.packages.is_empty() {
        return Err("configurator.packages is empty".into());
    }
    for (i, p) in c.packages.iter().enumerate() {
        let at = format!("configurator.packages[{i}]");
        if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{at}.sha256 is not 64 hex digits"));
        }
        match (p.kind.as_str(), &p.path) {
            ("deb", _) => {}
            ("exec", Some(path))
                if path.starts_with('/') && !path.split('/').any(|s| s == "..") => {}
            ("exec", _) => {
                return Err(format!(
                    "{at} is of type exec and needs an absolute path without '..'"
                ));
            }
            (other, _) => return Err(format!("{at}.type '{other}' is not one of deb, exec")),
        }
    }
    for (i, cert) in b.certificates.iter().flatten().enumerate() {
        if !is_file_name(&cert.name) {
            return Err(format!(
                "certificates[{i}].name '{}' is not a plain file name (letters, digits, . _ -)",
                cert.name
            ));
        }
        if !cert.pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!(
                "certificates[{i}] ('{}') holds no PEM certificate",
                cert.name
            ));
        }
    }
    if let Some(u) = &b.config_url {
        Url::parse(u).map_err(|e| format!("config_url '{u}' is not a URL: {e}"))?;
    }
    Ok(())
}

fn is_file_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Names an architecture goes by: Rust's own first, then Debian's.
pub fn arch_names(rust_arch: &str) -> &'static [&'static str] {
    match rust_arch {
        "x86_64" => &["x86_64", "amd64"],
        "aarch64" => &["aarch64", "arm64"],
        "arm" => &["arm", "armhf", "armv7"],
        "x86" => &["x86", "i386", "i686"],
        "riscv64" => &["riscv64"],
        _ => &[],
    }
}

/// The package for this machine: its own architecture, else `any`.
pub fn choose<'a>(c: &'a Configurator, rust_arch: &str) -> Result<&'a Package, String> {
    let names = arch_names(rust_arch);
    c.packages
        .iter()
        .find(|p| p.arch == rust_arch || names.contains(&p.arch.as_str()))
        .or_else(|| c.packages.iter().find(|p| p.arch == "any"))
        .ok_or_else(|| {
            let offered: Vec<&str> = c.packages.iter().map(|p| p.arch.as_str()).collect();
            format!("it has no package for this device's architecture {rust_arch} (offered: {}) and none for 'any'", offered.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{ "format": 1, "extra": {"ignored": [1,2]},
      "user": { "name": "Jane Doe", "email": "jane@example.com", "login": "jdoe" },
      "device": { "id": "DEV-0001", "password": "s3cret" },
      "configurator": { "name": "corp", "command": ["/usr/bin/corp", "--enroll"],
        "packages": [
          { "arch": "arm64", "type": "deb", "url": "pkgs/corp.deb", "sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "size": 10 },
          { "arch": "any", "type": "exec", "url": "pkgs/corp.sh", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "size": 5, "path": "/usr/bin/corp" } ] },
      "config_url": "https://cfg.example.com/devices/DEV-0001/config",
      "certificates": [ { "name": "corp-root", "pem": "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n" } ] }"#;

    #[test]
    fn parses_and_chooses() {
        let b = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(b.device.as_ref().unwrap().id.as_deref(), Some("DEV-0001"));
        assert_eq!(
            choose(&b.configurator, "aarch64").unwrap().kind(),
            Kind::Deb
        );
        assert_eq!(
            choose(&b.configurator, "x86_64").unwrap().kind(),
            Kind::Exec
        );
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse(br#"{"format": 1, "configurator": {"name": "x", "command": ["/x"]}}"#)
            .unwrap_err();
        assert!(e.contains("packages"), "{e}");
    }

    #[test]
    fn wrong_format_and_values() {
        assert!(
            parse(GOOD.replace("\"format\": 1", "\"format\": 2").as_bytes())
                .unwrap_err()
                .contains("format 2")
        );
        assert!(
            parse(GOOD.replace("corp-root", "../x").as_bytes())
                .unwrap_err()
                .contains("file name")
        );
        assert!(
            parse(
                GOOD.replace("/usr/bin/corp\" }", "usr/bin/corp\" }")
                    .as_bytes()
            )
            .unwrap_err()
            .contains("absolute")
        );
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn no_package_for_arch() {
        let mut b = parse(GOOD.as_bytes()).unwrap();
        b.configurator.packages.retain(|p| p.arch != "any");
        let e = choose(&b.configurator, "x86_64").unwrap_err();
        assert!(e.contains("x86_64") && e.contains("arm64"), "{e}");
    }
}

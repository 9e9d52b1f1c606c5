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
    /// Package repositories to add, for packages of type `apt`.
    pub repositories: Option<Vec<Repository>>,
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
    /// `deb` and `exec`: where to download it, and what it must be.
    pub url: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// `exec`: where the file is placed.
    pub path: Option<String>,
    /// `apt`: the package to install from the repositories.
    pub name: Option<String>,
}

/// A Debian package repository, written as one sources.list line.
#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Repository {
    pub name: String,
    /// `https://…` or `file:/…`; never plain http.
    pub uri: String,
    /// A suite (`stable`), or a flat repository's path ending in `/` (`./`).
    pub suite: String,
    pub components: Option<Vec<String>>,
    /// ASCII-armored OpenPGP key the repository is signed with.
    pub key: Option<String>,
    /// Accept the repository unsigned (`[trusted=yes]`).
    pub trusted: Option<bool>,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Certificate {
    pub name: String,
    pub pem: String,
}

/// A file to download, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

/// How a package is installed, once the bundle is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// A single executable file, placed at `path`.
    Exec { file: Download, path: String },
    /// A Debian package file, given to dpkg.
    Deb { file: Download },
    /// A package from the bundle's repositories, installed with apt-get.
    Apt { name: String },
}

impl Package {
    /// What to do with this package; validate() made sure the fields are there.
    pub fn install(&self) -> Install {
        let file = || Download {
            url: self.url.clone().unwrap_or_default(),
            sha256: self.sha256.clone().unwrap_or_default().to_ascii_lowercase(),
            size: self.size.unwrap_or_default(),
        };
        match self.kind.as_str() {
            "exec" => Install::Exec {
                file: file(),
                path: self.path.clone().unwrap_or_default(),
            },
            "deb" => Install::Deb { file: file() },
            _ => Install::Apt {
                name: self.name.clone().unwrap_or_default(),
            },
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
        validate_package(p).map_err(|why| format!("configurator.packages[{i}] {why}"))?;
    }
    for (i, r) in b.repositories.iter().flatten().enumerate() {
        validate_repository(r).map_err(|why| format!("repositories[{i}] ('{}') {why}", r.name))?;
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

fn validate_package(p: &Package) -> Result<(), String> {
    match p.kind.as_str() {
        "exec" | "deb" => {
            if p.url.as_deref().is_none_or(str::is_empty) {
                return Err(format!("is of type {} and needs a url", p.kind));
            }
            if p.size.is_none() {
                return Err(format!("is of type {} and needs a size", p.kind));
            }
            let sha = p.sha256.as_deref().unwrap_or_default();
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("needs a sha256 of 64 hex digits".into());
            }
        }
        "apt" => {
            let name = p.name.as_deref().unwrap_or_default();
            let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b);
            if name.len() < 2 || !name.bytes().all(ok) || name.starts_with(['-', '+', '.']) {
                return Err("is of type apt and needs the name of a Debian package".into());
            }
        }
        other => {
            return Err(format!(
                "has type '{other}', which is not one of exec, deb, apt"
            ));
        }
    }
    if p.kind == "exec" {
        match &p.path {
            Some(path) if path.starts_with('/') && !path.split('/').any(|s| s == "..") => {}
            _ => return Err("is of type exec and needs an absolute path without '..'".into()),
        }
    }
    Ok(())
}

fn validate_repository(r: &Repository) -> Result<(), String> {
    if !is_file_name(&r.name) {
        return Err("needs a name of letters, digits, . _ -".into());
    }
    if !(r.uri.starts_with("https://") || r.uri.starts_with("file:/")) {
        return Err(format!(
            "has uri '{}'; only https:// and file:/ repositories are used",
            r.uri
        ));
    }
    let word = |w: &str| {
        !w.is_empty()
            && !w
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == b'[' || b == b']')
    };
    if !word(&r.uri) || !word(&r.suite) || !r.components.iter().flatten().all(|c| word(c)) {
        return Err("has an empty uri, suite or component, or one with spaces or brackets".into());
    }
    if r.suite.ends_with('/') && r.components.as_ref().is_some_and(|c| !c.is_empty()) {
        return Err("is a flat repository (suite ending in /) and takes no components".into());
    }
    if let Some(key) = &r.key {
        if !key.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            return Err("has a key that is not an ASCII-armored OpenPGP public key".into());
        }
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
        assert!(matches!(
            choose(&b.configurator, "aarch64").unwrap().install(),
            Install::Deb { .. }
        ));
        match choose(&b.configurator, "x86_64").unwrap().install() {
            Install::Exec { file, path } => {
                assert_eq!(
                    (file.url.as_str(), file.size, path.as_str()),
                    ("pkgs/corp.sh", 5, "/usr/bin/corp")
                );
                assert_eq!(file.sha256, "0".repeat(64));
            }
            other => panic!("{other:?}"),
        }
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
    fn apt_packages_and_repositories() {
        let apt = GOOD.replace(
            r#"{ "arch": "arm64", "type": "deb", "url": "pkgs/corp.deb", "sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "size": 10 }"#,
            r#"{ "arch": "arm64", "type": "apt", "name": "corp-configurator" }"#,
        );
        let with_repo = |repo: &str| {
            apt.replace(
                r#""config_url""#,
                &format!(r#""repositories": [{repo}], "config_url""#),
            )
        };
        let b = parse(with_repo(r#"{"name": "corp", "uri": "https://repo.example.com/debian", "suite": "stable", "components": ["main"]}"#).as_bytes()).unwrap();
        assert_eq!(
            choose(&b.configurator, "aarch64").unwrap().install(),
            Install::Apt {
                name: "corp-configurator".into()
            }
        );
        assert_eq!(b.repositories.unwrap()[0].suite, "stable");
        let e = parse(
            with_repo(
                r#"{"name": "corp", "uri": "http://repo.example.com/debian", "suite": "stable"}"#,
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert!(e.contains("only https:// and file:/"), "{e}");
        let e = parse(with_repo(r#"{"name": "corp", "uri": "file:/srv/repo", "suite": "./", "components": ["main"]}"#).as_bytes()).unwrap_err();
        assert!(e.contains("flat repository"), "{e}");
        let e = parse(
            apt.replace(r#""name": "corp-configurator""#, r#""name": "Bad Name""#)
                .as_bytes(),
        )
        .unwrap_err();
        assert!(e.contains("packages[0] is of type apt"), "{e}");
        let e = parse(GOOD.replace(r#""size": 5,"#, "").as_bytes()).unwrap_err();
        assert!(
            e.contains("packages[1] is of type exec and needs a size"),
            "{e}"
        );
    }

    #[test]
    fn no_package_for_arch() {
        let mut b = parse(GOOD.as_bytes()).unwrap();
        b.configurator.packages.retain(|p| p.arch != "any");
        let e = choose(&b.configurator, "x86_64").unwrap_err();
        assert!(e.contains("x86_64") && e.contains("arm64"), "{e}");
    }
}

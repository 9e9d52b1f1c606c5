//! The bundle, format 1: what the configuration server sends back.
//!
//! The JSON is read into private wire types, checked once, and turned into
//! the typed [`Bundle`] every later step takes as it is: no step after this
//! one needs a default for a field that "must be there".
//!
//! Unknown fields are ignored so servers can add to the format; missing
//! required fields and wrong values are errors that name the field.

use nanoserde::DeJson;
use url::Url;
use wire::{WireBundle, WireCertificate, WireConfigurator, WirePackage, WireRepository};

use crate::net::http::check_url;
use crate::state::PackageType;
use crate::state::files::InRoot;

const FORMAT: u32 = 1;

/// A validated bundle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bundle {
    /// Whom the bundle is for (`user.name`, else `user.login`), for messages.
    pub(crate) holder: Option<String>,
    pub(crate) device_id: Option<String>,
    pub(crate) configurator: Configurator,
    /// Passed on to the configurator as the bundle gave it.
    pub(crate) config_url: Option<String>,
    pub(crate) certificates: Vec<Certificate>,
    /// Package repositories, for packages of type `apt`.
    pub(crate) repositories: Vec<Repository>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Configurator {
    pub(crate) name: String,
    pub(crate) packages: Vec<Package>,
    pub(crate) command: Launch,
}

/// How the configurator is started: `program` is taken below the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    pub(crate) program: InRoot,
    pub(crate) args: Vec<String>,
}

impl Launch {
    /// As the bundle wrote it, for the receipt.
    pub(crate) fn words(&self) -> Vec<String> {
        let mut w = vec![self.program.as_str().to_string()];
        w.extend(self.args.iter().cloned());
        w
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    /// As the bundle names it: Rust's or Debian's name, or `any`.
    pub(crate) arch: String,
    pub(crate) kind: PackageKind,
}

/// What a package is, and so how it is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PackageKind {
    /// A single executable file, placed at `path`.
    Exec { file: PackageFile, path: InRoot },
    /// A Debian package file, given to dpkg.
    Deb { file: PackageFile },
    /// A package from the bundle's repositories, installed with apt-get.
    Apt { name: String },
}

impl PackageKind {
    pub(crate) fn package_type(&self) -> PackageType {
        match self {
            PackageKind::Exec { .. } => PackageType::Exec,
            PackageKind::Deb { .. } => PackageType::Deb,
            PackageKind::Apt { .. } => PackageType::Apt,
        }
    }
}

/// A file to download, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageFile {
    /// Absolute, or relative to the bundle's URL.
    pub(crate) url: String,
    /// 64 lower-case hex digits.
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

/// A Debian package repository, written as one sources.list line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repository {
    pub(crate) name: String,
    /// `https://…` or `file:/…`; never plain http.
    pub(crate) uri: String,
    /// A suite (`stable`), or a flat repository's path ending in `/` (`./`).
    pub(crate) suite: String,
    pub(crate) components: Vec<String>,
    /// ASCII-armored OpenPGP key the repository is signed with.
    pub(crate) key: Option<String>,
    /// Accept the repository unsigned (`[trusted=yes]`).
    pub(crate) trusted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Certificate {
    /// A plain file name (letters, digits, `.` `_` `-`).
    pub(crate) name: String,
    pub(crate) pem: String,
}

/// Parses and checks a bundle; the error is a phrase naming the problem.
pub(crate) fn parse(bytes: &[u8]) -> Result<Bundle, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    let w = WireBundle::deserialize_json(text)
        .map_err(|e| format!("it is not a valid format-1 bundle ({e})"))?;
    if w.format != FORMAT {
        return Err(format!(
            "it is format {}, and this preconf reads format {FORMAT}; update preconf or ask for a format-{FORMAT} bundle",
            w.format
        ));
    }
    let user = w.user.unwrap_or_default();
    Ok(Bundle {
        holder: user.name.or(user.login),
        device_id: w.device.and_then(|d| d.id),
        configurator: configurator(w.configurator)?,
        config_url: w.config_url.map(config_url).transpose()?,
        certificates: certificates(w.certificates.unwrap_or_default())?,
        repositories: w
            .repositories
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let name = r.name.clone();
                repository(r).map_err(|why| format!("repositories[{i}] ('{name}') {why}"))
            })
            .collect::<Result<_, _>>()?,
    })
}

fn configurator(c: WireConfigurator) -> Result<Configurator, String> {
    let (first, args) = c
        .command
        .split_first()
        .ok_or("configurator.command is empty")?;
    let program = InRoot::parse(first)
        .ok_or("configurator.command must start with an absolute path without '..'")?;
    if c.packages.is_empty() {
        return Err("configurator.packages is empty".into());
    }
    let packages = c
        .packages
        .into_iter()
        .enumerate()
        .map(|(i, p)| package(p).map_err(|why| format!("configurator.packages[{i}] {why}")))
        .collect::<Result<_, _>>()?;
    Ok(Configurator {
        name: c.name,
        packages,
        command: Launch {
            program,
            args: args.to_vec(),
        },
    })
}

fn package(p: WirePackage) -> Result<Package, String> {
    let kind = match p.kind.as_str() {
        "exec" => PackageKind::Exec {
            file: package_file(&p)?,
            path: p
                .path
                .as_deref()
                .and_then(InRoot::parse)
                .ok_or("is of type exec and needs an absolute path without '..'")?,
        },
        "deb" => PackageKind::Deb {
            file: package_file(&p)?,
        },
        "apt" => {
            let name = p.name.unwrap_or_default();
            let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b);
            if name.len() < 2 || !name.bytes().all(ok) || name.starts_with(['-', '+', '.']) {
                return Err("is of type apt and needs the name of a Debian package".into());
            }
            PackageKind::Apt { name }
        }
        other => {
            return Err(format!(
                "has type '{other}', which is not one of exec, deb, apt"
            ));
        }
    };
    Ok(Package { arch: p.arch, kind })
}

fn package_file(p: &WirePackage) -> Result<PackageFile, String> {
    let url = p
        .url
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("is of type {} and needs a url", p.kind))?;
    // Relative URLs are resolved against the bundle's URL later; an https
    // base shows whether one can be, and what an absolute one is.
    let base = Url::parse("https://bundle.invalid/b/").expect("a valid URL");
    let resolved = base
        .join(&url)
        .map_err(|e| format!("has the url '{url}', which is not usable ({e})"))?;
    check_url(&resolved).map_err(|why| format!("has the url '{url}', which {why}"))?;
    let size = p
        .size
        .ok_or_else(|| format!("is of type {} and needs a size", p.kind))?;
    let sha256 = p.sha256.as_deref().unwrap_or_default().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("needs a sha256 of 64 hex digits".into());
    }
    Ok(PackageFile { url, sha256, size })
}

/// A URL for the configurator: http or https, without a login in it.
fn config_url(u: String) -> Result<String, String> {
    let url = Url::parse(&u).map_err(|e| format!("config_url '{u}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "config_url '{u}' must be an http(s) URL without a login"
        ));
    }
    Ok(u)
}

fn certificates(certs: Vec<WireCertificate>) -> Result<Vec<Certificate>, String> {
    certs
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            if !is_file_name(&c.name) {
                return Err(format!(
                    "certificates[{i}].name '{}' is not a plain file name (letters, digits, . _ -)",
                    c.name
                ));
            }
            if !c.pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(format!(
                    "certificates[{i}] ('{}') holds no PEM certificate",
                    c.name
                ));
            }
            Ok(Certificate {
                name: c.name,
                pem: c.pem,
            })
        })
        .collect()
}

fn repository(r: WireRepository) -> Result<Repository, String> {
    validate_repository(&r)?;
    Ok(Repository {
        name: r.name,
        uri: r.uri,
        suite: r.suite,
        components: r.components.unwrap_or_default(),
        key: r.key,
        trusted: r.trusted == Some(true),
    })
}

fn validate_repository(r: &WireRepository) -> Result<(), String> {
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
fn arch_names(rust_arch: &str) -> &'static [&'static str] {
    match rust_arch {
        "x86_64" => &["x86_64", "amd64"],
        "aarch64" => &["aarch64", "arm64"],
        "arm" => &["arm", "armhf", "armv7"],
        "x86" => &["x86", "i386", "i686"],
        "riscv64" => &["riscv64"],
        _ => &[],
    }
}

impl Bundle {
    /// The package for this machine: its own architecture, else `any`.
    pub(crate) fn package_for(&self, rust_arch: &str) -> Result<&Package, String> {
        let names = arch_names(rust_arch);
        let packages = &self.configurator.packages;
        packages
            .iter()
            .find(|p| p.arch == rust_arch || names.contains(&p.arch.as_str()))
            .or_else(|| packages.iter().find(|p| p.arch == "any"))
            .ok_or_else(|| {
                let offered: Vec<&str> = packages.iter().map(|p| p.arch.as_str()).collect();
                format!(
                    "it has no package for this device's architecture {rust_arch} (offered: {}) and none for 'any'",
                    offered.join(", ")
                )
            })
    }

    /// The step line: for whom, and which package.
    pub(crate) fn describe(&self, pkg: &Package) -> String {
        format!(
            "for {}: configurator {} ({} package for {})",
            self.holder.as_deref().unwrap_or("this device"),
            self.configurator.name,
            pkg.kind.package_type().name(),
            pkg.arch
        )
    }
}

// nanoserde's derives expand to code clippy flags, and take no pub(super).
#[expect(clippy::question_mark, reason = "nanoserde's derive code")]
#[expect(unreachable_pub, reason = "nanoserde's derives need plain pub")]
mod wire {
    use nanoserde::DeJson;

    // The bundle as the JSON has it; nothing outside this file sees these.

    #[derive(DeJson)]
    pub struct WireBundle {
        pub format: u32,
        pub user: Option<WireUser>,
        pub device: Option<WireDevice>,
        pub configurator: WireConfigurator,
        pub config_url: Option<String>,
        pub certificates: Option<Vec<WireCertificate>>,
        pub repositories: Option<Vec<WireRepository>>,
    }

    #[derive(DeJson, Default)]
    pub struct WireUser {
        pub name: Option<String>,
        pub login: Option<String>,
    }

    #[derive(DeJson)]
    pub struct WireDevice {
        pub id: Option<String>,
    }

    #[derive(DeJson)]
    pub struct WireConfigurator {
        pub name: String,
        pub packages: Vec<WirePackage>,
        pub command: Vec<String>,
    }

    #[derive(DeJson)]
    pub struct WirePackage {
        pub arch: String,
        #[nserde(rename = "type")]
        pub kind: String,
        pub url: Option<String>,
        pub sha256: Option<String>,
        pub size: Option<u64>,
        pub path: Option<String>,
        pub name: Option<String>,
    }

    #[derive(DeJson)]
    pub struct WireRepository {
        pub name: String,
        pub uri: String,
        pub suite: String,
        pub components: Option<Vec<String>>,
        pub key: Option<String>,
        pub trusted: Option<bool>,
    }

    #[derive(DeJson)]
    pub struct WireCertificate {
        pub name: String,
        pub pem: String,
    }
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
        assert_eq!(b.device_id.as_deref(), Some("DEV-0001"));
        assert_eq!(b.holder.as_deref(), Some("Jane Doe"));
        assert_eq!(
            b.configurator.command.words(),
            ["/usr/bin/corp", "--enroll"]
        );
        match &b.package_for("aarch64").unwrap().kind {
            PackageKind::Deb { file } => assert_eq!(file.sha256, "a".repeat(64)),
            other => panic!("{other:?}"),
        }
        match &b.package_for("x86_64").unwrap().kind {
            PackageKind::Exec { file, path } => {
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
        let err = |from: &str, to: &str| parse(GOOD.replace(from, to).as_bytes()).unwrap_err();
        assert!(err("\"format\": 1", "\"format\": 2").contains("format 2"));
        assert!(err("corp-root", "../x").contains("file name"));
        assert!(err("/usr/bin/corp\" }", "usr/bin/corp\" }").contains("absolute"));
        assert!(err("\"/usr/bin/corp\", \"--enroll\"", "\"/usr/../bin/corp\"").contains("'..'"));
        assert!(err("\"/usr/bin/corp\", \"--enroll\"", "").contains("command is empty"));
        assert!(err("pkgs/corp.sh", "https://[::1/x").contains("not usable"));
        assert!(err("pkgs/corp.sh", "ftp://cfg.example.com/x").contains("https://"));
        assert!(err("pkgs/corp.sh", "https://u@cfg.example.com/x").contains("login"));
        assert!(err("https://cfg.example.com/devices", "file:///etc").contains("config_url"));
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
            b.package_for("aarch64").unwrap().kind,
            PackageKind::Apt {
                name: "corp-configurator".into()
            }
        );
        assert_eq!(b.repositories[0].suite, "stable");
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
        let e = b.package_for("x86_64").unwrap_err();
        assert!(e.contains("x86_64") && e.contains("arm64"), "{e}");
    }
}

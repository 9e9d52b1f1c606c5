//! The bundle, format 1: what the configuration server sends back.
//!
//! The JSON is read by the strict reader (`json.rs`), walked once, and
//! turned into the typed [`Bundle`] every later step takes as it is: no
//! step after this one needs a default for a field that "must be there".
//!
//! Unknown fields are ignored so servers can add to the format; `null`
//! counts as absent; missing required fields, fields of the wrong JSON
//! type and wrong values are errors that name the field.

use url::Url;

use crate::json::{self, Json};
use crate::net::http::{check_url, parse_url};
use crate::settings::Value;
use crate::state::PackageType;
use crate::state::files::InRoot;

const FORMAT: u64 = 1;

/// Bounds on `properties`: how many, how long a name, how large a value.
const MAX_PROPERTIES: usize = 256;
const MAX_PROPERTY_NAME: usize = 128;
const MAX_PROPERTY_SIZE: usize = 64 * 1024;
/// Ends the key of a property whose value is bytes, given as Base64.
const BASE64_SUFFIX: &str = "@base64";

/// A validated bundle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bundle {
    /// Whom the bundle is for (`user.name`, else `user.login`), for messages.
    pub(crate) holder: Option<String>,
    pub(crate) device_id: Option<String>,
    /// None when the bundle names none; the run then stops before installing.
    pub(crate) configurator: Option<Configurator>,
    /// Passed on to the configurator as the bundle gave it.
    pub(crate) config_url: Option<String>,
    /// Where the run reports its progress when `prm.prv.log` names no
    /// place: an https URL, checked as every URL preconf requests.
    pub(crate) report_url: Option<Url>,
    pub(crate) certificates: Vec<Certificate>,
    /// Package repositories, for packages of type `apt`.
    pub(crate) repositories: Vec<Repository>,
    /// Provisioning properties the server hands the device, in document
    /// order: each name valid and given once, without `@base64`.
    pub(crate) properties: Vec<(String, Value)>,
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
    // Checked apart from the JSON, for a plainer message than a byte offset.
    std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text")?;
    let doc = json::parse(bytes).map_err(|e| format!("it is not valid JSON ({e})"))?;
    if doc.as_object().is_none() {
        return Err(format!("it is {}, not a JSON object", doc.kind()));
    }
    let top = Node {
        json: &doc,
        path: String::new(),
    };
    let format = top.req("format", Node::u64)?;
    if format != FORMAT {
        return Err(format!(
            "it is format {format}, and this preconf reads format {FORMAT}; update preconf or ask for a format-{FORMAT} bundle"
        ));
    }
    Ok(Bundle {
        holder: top.opt("user", holder)?.flatten(),
        device_id: top.opt("device", |d| d.opt("id", Node::string))?.flatten(),
        configurator: top.opt("configurator", configurator)?,
        config_url: top.opt("config_url", |u| config_url(u.string()?))?,
        report_url: top.opt("report_url", |u| report_url(u.str()?))?,
        certificates: top
            .opt("certificates", |c| c.each(certificate))?
            .unwrap_or_default(),
        repositories: top
            .opt("repositories", |r| r.each(repository))?
            .unwrap_or_default(),
        properties: top.opt("properties", properties)?.unwrap_or_default(),
    })
}

/// A value in the document and where it is, for messages such as
/// `configurator.packages[1].size must be a number, not a string`.
struct Node<'a> {
    json: &'a Json,
    /// Empty for the document itself.
    path: String,
}

impl<'a> Node<'a> {
    /// The member `key` of this object, read by `read`; None when it is
    /// absent or `null`, which mean the same.
    fn opt<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Node<'a>) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        if self.json.as_object().is_none() {
            return Err(self.wrong("an object"));
        }
        match self.json.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(json) => read(&Node {
                json,
                path: self.path_of(key),
            })
            .map(Some),
        }
    }

    /// The member `key`, which must be there.
    fn req<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Node<'a>) -> Result<T, String>,
    ) -> Result<T, String> {
        self.opt(key, read)?
            .ok_or_else(|| format!("{} is missing", self.path_of(key)))
    }

    /// Each item of this array, read by `read`.
    fn each<T>(&self, read: impl Fn(&Node<'a>) -> Result<T, String>) -> Result<Vec<T>, String> {
        let items = self.json.as_array().ok_or_else(|| self.wrong("an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, json)| {
                read(&Node {
                    json,
                    path: format!("{}[{i}]", self.path),
                })
            })
            .collect()
    }

    fn str(&self) -> Result<&'a str, String> {
        self.json.as_str().ok_or_else(|| self.wrong("a string"))
    }

    fn string(&self) -> Result<String, String> {
        self.str().map(str::to_string)
    }

    fn bool(&self) -> Result<bool, String> {
        self.json.as_bool().ok_or_else(|| self.wrong("a boolean"))
    }

    /// A count, such as a size: a plain integer that fits in a u64.
    fn u64(&self) -> Result<u64, String> {
        match self.json {
            Json::Number(_) => self.json.as_u64().ok_or_else(|| {
                format!(
                    "{} must be a whole number from 0 to {}",
                    self.path,
                    u64::MAX
                )
            }),
            _ => Err(self.wrong("a number")),
        }
    }

    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong(&self, expected: &str) -> String {
        format!("{} must be {expected}, not {}", self.path, self.json.kind())
    }
}

/// Whom the bundle is for: `user.name`, else `user.login`.
fn holder(user: &Node) -> Result<Option<String>, String> {
    let name = user.opt("name", Node::string)?;
    let login = user.opt("login", Node::string)?;
    Ok(name.or(login))
}

fn configurator(c: &Node) -> Result<Configurator, String> {
    let name = c.req("name", Node::string)?;
    let command = c.req("command", |n| n.each(Node::string))?;
    let (first, args) = command
        .split_first()
        .ok_or("configurator.command is empty")?;
    let program = InRoot::parse(first)
        .ok_or("configurator.command must start with an absolute path without '..'")?;
    let packages = c.req("packages", |n| n.each(package))?;
    if packages.is_empty() {
        return Err("configurator.packages is empty".into());
    }
    Ok(Configurator {
        name,
        packages,
        command: Launch {
            program,
            args: args.to_vec(),
        },
    })
}

/// A package's fields as the bundle gives them; its type says which it
/// needs.
struct PackageFields<'a> {
    kind: &'a str,
    url: Option<&'a str>,
    sha256: Option<&'a str>,
    size: Option<u64>,
    path: Option<&'a str>,
    name: Option<&'a str>,
}

fn package(p: &Node) -> Result<Package, String> {
    let arch = p.req("arch", Node::string)?;
    // Every known field is read whatever the type, so one of the wrong JSON
    // type is refused even where this type does not use it.
    let fields = PackageFields {
        kind: p.req("type", Node::str)?,
        url: p.opt("url", Node::str)?,
        sha256: p.opt("sha256", Node::str)?,
        size: p.opt("size", Node::u64)?,
        path: p.opt("path", Node::str)?,
        name: p.opt("name", Node::str)?,
    };
    let kind = package_kind(&fields).map_err(|why| format!("{} {why}", p.path))?;
    Ok(Package { arch, kind })
}

fn package_kind(p: &PackageFields) -> Result<PackageKind, String> {
    Ok(match p.kind {
        "exec" => PackageKind::Exec {
            file: package_file(p)?,
            path: p
                .path
                .and_then(InRoot::parse)
                .ok_or("is of type exec and needs an absolute path without '..'")?,
        },
        "deb" => PackageKind::Deb {
            file: package_file(p)?,
        },
        "apt" => {
            let name = p.name.unwrap_or_default();
            let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b);
            if name.len() < 2 || !name.bytes().all(ok) || name.starts_with(['-', '+', '.']) {
                return Err("is of type apt and needs the name of a Debian package".into());
            }
            PackageKind::Apt {
                name: name.to_string(),
            }
        }
        other => {
            return Err(format!(
                "has type '{other}', which is not one of exec, deb, apt"
            ));
        }
    })
}

fn package_file(p: &PackageFields) -> Result<PackageFile, String> {
    let url = p
        .url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("is of type {} and needs a url", p.kind))?;
    // Relative URLs are resolved against the bundle's URL later (the same
    // text, so the check of its host here holds there too); an https base
    // shows whether one can be, and what an absolute one is.
    let base = Url::parse("https://bundle.invalid/b/").expect("a valid URL");
    let resolved = parse_url(Some(&base), url)
        .map_err(|e| format!("has the url '{url}', which is not usable ({e})"))?;
    check_url(&resolved).map_err(|why| format!("has the url '{url}', which {why}"))?;
    let size = p
        .size
        .ok_or_else(|| format!("is of type {} and needs a size", p.kind))?;
    let sha256 = p.sha256.unwrap_or_default().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("needs a sha256 of 64 hex digits".into());
    }
    Ok(PackageFile {
        url: url.to_string(),
        sha256,
        size,
    })
}

/// A URL for the configurator: http or https, without a login in it.
fn config_url(u: String) -> Result<String, String> {
    let url = parse_url(None, &u).map_err(|e| format!("config_url '{u}' is not a URL: {e}"))?;
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

/// The progress log's URL: requested like any other, so held to the same
/// rule (https, no login in it).
fn report_url(u: &str) -> Result<Url, String> {
    let url = parse_url(None, u).map_err(|e| format!("report_url '{u}' is not a URL: {e}"))?;
    check_url(&url).map_err(|why| format!("report_url '{u}' {why}"))?;
    Ok(url)
}

fn certificate(c: &Node) -> Result<Certificate, String> {
    let name = c.req("name", Node::string)?;
    let pem = c.req("pem", Node::string)?;
    if !is_file_name(&name) {
        return Err(format!(
            "{}.name '{name}' is not a plain file name (letters, digits, . _ -)",
            c.path
        ));
    }
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("{} ('{name}') holds no PEM certificate", c.path));
    }
    Ok(Certificate { name, pem })
}

fn repository(r: &Node) -> Result<Repository, String> {
    let repo = Repository {
        name: r.req("name", Node::string)?,
        uri: r.req("uri", Node::string)?,
        suite: r.req("suite", Node::string)?,
        components: r
            .opt("components", |c| c.each(Node::string))?
            .unwrap_or_default(),
        key: r.opt("key", Node::string)?,
        trusted: r.opt("trusted", Node::bool)? == Some(true),
    };
    validate_repository(&repo).map_err(|why| format!("{} ('{}') {why}", r.path, repo.name))?;
    Ok(repo)
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
    if !word(&r.uri) || !word(&r.suite) || !r.components.iter().all(|c| word(c)) {
        return Err("has an empty uri, suite or component, or one with spaces or brackets".into());
    }
    if r.suite.ends_with('/') && !r.components.is_empty() {
        return Err("is a flat repository (suite ending in /) and takes no components".into());
    }
    if let Some(key) = &r.key {
        if !key.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            return Err("has a key that is not an ASCII-armored OpenPGP public key".into());
        }
    }
    Ok(())
}

/// `properties`, in document order: every name valid and given once.
fn properties(p: &Node) -> Result<Vec<(String, Value)>, String> {
    let members = p.json.as_object().ok_or_else(|| p.wrong("an object"))?;
    if members.len() > MAX_PROPERTIES {
        return Err(format!(
            "properties has {} entries, more than the {MAX_PROPERTIES} allowed",
            members.len()
        ));
    }
    let mut out: Vec<(String, Value)> = Vec::with_capacity(members.len());
    for (key, json) in members {
        let at = || format!("properties.'{}'", shown_key(key));
        let (name, value) = property(key, json).map_err(|why| format!("{} {why}", at()))?;
        // The reader refused a key given twice, but `a` and `a@base64`
        // name the same property. With at most 256, a scan is cheap.
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("{} repeats the property '{name}'", at()));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// A property's name (its key without `@base64`) and its value: bytes
/// after that suffix, text otherwise.
fn property(key: &str, json: &Json) -> Result<(String, Value), String> {
    let (name, base64) = match key.strip_suffix(BASE64_SUFFIX) {
        Some(name) => (name, true),
        None => (key, false),
    };
    if !is_property_name(name) {
        return Err("is not a property name (lowercase letters, digits, . - _)".into());
    }
    let text = json
        .as_str()
        .ok_or_else(|| format!("must be a string, not {}", json.kind()))?;
    let value = if base64 {
        let bytes = crate::base64::decode(text.as_bytes()).ok_or("is not valid base64")?;
        Value::Bytes(bytes)
    } else {
        Value::Text(text.to_string())
    };
    let size = match &value {
        Value::Text(t) => t.len(),
        Value::Bytes(b) => b.len(),
    };
    if size > MAX_PROPERTY_SIZE {
        return Err(format!("is larger than {} KiB", MAX_PROPERTY_SIZE / 1024));
    }
    Ok((name.to_string(), value))
}

/// Lowercase ASCII letters, digits, `.`, `-`, `_`, starting with a letter,
/// with no empty label between dots: a name any later step can use as a
/// key or in a file name as it is.
fn is_property_name(name: &str) -> bool {
    let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b);
    (1..=MAX_PROPERTY_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(ok)
        && !name.split('.').any(str::is_empty)
}

/// A key as a message shows it: escaped and cut short, as it may be
/// anything when it failed the checks.
fn shown_key(key: &str) -> String {
    let limit = MAX_PROPERTY_NAME + BASE64_SUFFIX.len();
    let mut shown: String = key
        .chars()
        .take(limit)
        .flat_map(char::escape_debug)
        .collect();
    if key.chars().nth(limit).is_some() {
        shown.push('…');
    }
    shown
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

impl Configurator {
    /// The package for this machine: its own architecture, else `any`.
    pub(crate) fn package_for(&self, rust_arch: &str) -> Result<&Package, String> {
        let names = arch_names(rust_arch);
        let packages = &self.packages;
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

    /// The step line: for whom (the bundle's holder), and which package.
    pub(crate) fn describe(&self, holder: Option<&str>, pkg: &Package) -> String {
        format!(
            "for {}: configurator {} ({} package for {})",
            holder.unwrap_or("this device"),
            self.name,
            pkg.kind.package_type().name(),
            pkg.arch
        )
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
        assert_eq!(b.report_url, None);
        let c = b.configurator.as_ref().unwrap();
        assert_eq!(c.command.words(), ["/usr/bin/corp", "--enroll"]);
        match &c.package_for("aarch64").unwrap().kind {
            PackageKind::Deb { file } => assert_eq!(file.sha256, "a".repeat(64)),
            other => panic!("{other:?}"),
        }
        match &c.package_for("x86_64").unwrap().kind {
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
        // Refused before the URL parser's IDNA step, which asserts on these.
        for host in ["A%AA", "x%41%c3%a9", "A\u{e9}", "A%\\tAA"] {
            let e = err("pkgs/corp.sh", &format!("https://{host}/x"));
            assert!(e.contains("not usable"), "{e}");
            let e = err(
                "https://cfg.example.com/devices",
                &format!("http://{host}/d"),
            );
            assert!(e.contains("config_url"), "{e}");
        }
        assert!(err("https://cfg.example.com/devices", "file:///etc").contains("config_url"));
        assert_eq!(
            parse(b"not json").unwrap_err(),
            "it is not valid JSON (expected a value at byte 0)"
        );
        assert_eq!(
            parse(b"[]").unwrap_err(),
            "it is an array, not a JSON object"
        );
        assert_eq!(parse(b"\xff").unwrap_err(), "it is not UTF-8 text");
    }

    #[test]
    fn wrong_types_are_named() {
        let err = |from: &str, to: &str| parse(GOOD.replace(from, to).as_bytes()).unwrap_err();
        assert_eq!(
            err("\"size\": 5", "\"size\": \"5\""),
            "configurator.packages[1].size must be a number, not a string"
        );
        assert_eq!(
            err("\"size\": 5", "\"size\": 5.0"),
            "configurator.packages[1].size must be a whole number from 0 to 18446744073709551615"
        );
        assert_eq!(
            err("\"Jane Doe\"", "7"),
            "user.name must be a string, not a number"
        );
        assert_eq!(
            err("\"--enroll\"", "true"),
            "configurator.command[1] must be a string, not a boolean"
        );
        assert_eq!(
            err("\"device\": {", "\"device\": [], \"x\": {"),
            "device must be an object, not an array"
        );
        assert_eq!(
            err("\"format\": 1", "\"format\": null"),
            "format is missing"
        );
        // Null is the same as absent for an optional field.
        let b = GOOD.replace("\"device\": {", "\"device\": null, \"x\": {");
        assert_eq!(parse(b.as_bytes()).unwrap().device_id, None);
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
            b.configurator.unwrap().package_for("aarch64").unwrap().kind,
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
    fn report_url_is_an_https_url() {
        let with = |u: &str| {
            let doc = format!(r#"{{"format": 1, "report_url": {u}}}"#);
            parse(doc.as_bytes()).map(|b| b.report_url.map(String::from))
        };
        assert_eq!(
            with(r#""https://log.example.com/p?d=1""#),
            Ok(Some("https://log.example.com/p?d=1".into()))
        );
        assert_eq!(with("null"), Ok(None));
        assert!(
            with(r#""http://log.example.com/p""#)
                .unwrap_err()
                .contains("https://")
        );
        assert!(
            with(r#""https://u:p@log.example.com/""#)
                .unwrap_err()
                .contains("login")
        );
        assert!(with(r#""/relative""#).unwrap_err().contains("not a URL"));
        assert!(
            with(r#""https://A%AA/x""#)
                .unwrap_err()
                .contains("not a URL")
        );
        assert_eq!(
            with("7").unwrap_err(),
            "report_url must be a string, not a number"
        );
    }

    #[test]
    fn configurator_is_optional() {
        let b = parse(br#"{"format": 1, "user": {"login": "jdoe"}}"#).unwrap();
        assert_eq!((b.configurator, b.holder.as_deref()), (None, Some("jdoe")));
        let b = parse(br#"{"format": 1, "configurator": null}"#).unwrap();
        assert_eq!(b.configurator, None);
    }

    fn with_properties(props: &str) -> Result<Bundle, String> {
        parse(format!(r#"{{"format": 1, "properties": {props}}}"#).as_bytes())
    }

    #[test]
    fn properties_of_text_and_bytes() {
        let b = with_properties(
            r#"{"provisioning.server": "https://x", "provisioning.rootx509@base64": "AAEC",
                "a_b-c.d2": "", "z@base64": ""}"#,
        )
        .unwrap();
        let text = |t: &str| Value::Text(t.into());
        let expected = [
            ("provisioning.server", text("https://x")),
            ("provisioning.rootx509", Value::Bytes(vec![0, 1, 2])),
            ("a_b-c.d2", text("")),
            ("z", Value::Bytes(vec![])),
        ];
        assert_eq!(b.properties, expected.map(|(k, v)| (k.to_string(), v)));
        assert!(with_properties(&format!(r#"{{"{}": "v"}}"#, "a".repeat(128))).is_ok());
        assert_eq!(with_properties("null").unwrap().properties, []);
    }

    #[test]
    fn bad_properties_are_named() {
        let err = |props: &str| with_properties(props).unwrap_err();
        for bad in ["AAE", "AAF=", "AA E=", "AAE=\\n", "AA-_", "eA==eA=="] {
            assert_eq!(
                err(&format!(r#"{{"provisioning.rootx509@base64": "{bad}"}}"#)),
                "properties.'provisioning.rootx509@base64' is not valid base64",
                "{bad}"
            );
        }
        let long = "a".repeat(129);
        for name in [
            "X",
            "1a",
            "a..b",
            ".a",
            "a.",
            "é",
            "",
            "a@base64@base64",
            &long,
        ] {
            assert_eq!(
                err(&format!(r#"{{"{name}": "v"}}"#)),
                format!(
                    "properties.'{name}' is not a property name (lowercase letters, digits, . - _)"
                )
            );
        }
        assert!(err(r#"{"a\nb'": "v"}"#).starts_with(r"properties.'a\nb\'' is not"));
        assert_eq!(
            err(r#"{"a": "x", "b": "y", "a@base64": "eA=="}"#),
            "properties.'a@base64' repeats the property 'a'"
        );
        assert_eq!(
            err(r#"{"k": 1}"#),
            "properties.'k' must be a string, not a number"
        );
        assert_eq!(
            err(r#"{"k": null}"#),
            "properties.'k' must be a string, not null"
        );
        assert_eq!(err("[]"), "properties must be an object, not an array");
        let big = format!(r#"{{"k": "{}"}}"#, "x".repeat(64 * 1024 + 1));
        assert_eq!(err(&big), "properties.'k' is larger than 64 KiB");
        let many: Vec<String> = (0..257).map(|i| format!(r#""k{i}": """#)).collect();
        assert!(err(&format!("{{{}}}", many.join(","))).contains("more than the 256"));
    }

    #[test]
    fn no_package_for_arch() {
        let mut c = parse(GOOD.as_bytes()).unwrap().configurator.unwrap();
        c.packages.retain(|p| p.arch != "any");
        let e = c.package_for("x86_64").unwrap_err();
        assert!(e.contains("x86_64") && e.contains("arm64"), "{e}");
    }
}

//! The receipt: written last by a run, it says the device is provisioned,
//! from where and with what. `preconf status` shows it.

use crate::clock;
use crate::json::{self, Json};
use crate::net::http::parse_url;
use url::Url;

/// The receipt as stored: format 1, one line of compact JSON; a field that
/// is None is left out, and a reader takes null for absent too.
const FORMAT: u64 = 1;

/// What a run provisioned, typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Receipt {
    /// UTC, RFC 3339.
    pub(crate) time: String,
    unix_time: u64,
    /// How the server was found; None in receipts older than the field.
    pub(crate) via: Option<Via>,
    pub(crate) domain: Option<String>,
    /// The configuration server that answered (for a link: its `url`).
    pub(crate) server: Url,
    /// Where the bundle finally came from.
    pub(crate) bundle_url: Url,
    /// None when the configurator was already on the device
    /// (provisioning.start.bundle and a bundle without one).
    pub(crate) package: Option<Installed>,
    pub(crate) command: Vec<String>,
    /// For a run from a provisioning.reference: where it came from and
    /// every hop.
    pub(crate) chain: Option<Chain>,
}

/// The references a run followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    /// The provider of the first reference, as messages name it.
    pub(crate) from: String,
    pub(crate) hops: Vec<Url>,
}

/// How a run found its configuration server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// SRV records of the domain.
    Dns,
    /// Named by `--server`.
    Server,
    /// A link document (`preconf open`).
    Link,
    /// A provisioning.reference.
    Reference,
}

impl Via {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Via::Dns => "dns",
            Via::Server => "server",
            Via::Link => "link",
            Via::Reference => "reference",
        }
    }

    fn from_name(name: &str) -> Option<Via> {
        [Via::Dns, Via::Server, Via::Link, Via::Reference]
            .into_iter()
            .find(|v| v.name() == name)
    }
}

/// The package a run installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Installed {
    /// The configurator's name, from the bundle.
    pub(crate) name: String,
    /// As the bundle named it.
    pub(crate) arch: String,
    pub(crate) package: InstalledPackage,
}

/// How the package got onto the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InstalledPackage {
    Exec(Verified),
    Deb(Verified),
    /// From the bundle's repositories; apt verified it.
    Apt {
        name: String,
    },
}

/// A downloaded file, and what it was checked to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub(crate) url: Url,
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

/// The type of a package, as the bundle and the receipt spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackageType {
    Exec,
    Deb,
    Apt,
}

impl PackageType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PackageType::Exec => "exec",
            PackageType::Deb => "deb",
            PackageType::Apt => "apt",
        }
    }

    fn from_name(name: &str) -> Option<PackageType> {
        [PackageType::Exec, PackageType::Deb, PackageType::Apt]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

impl InstalledPackage {
    pub(crate) fn package_type(&self) -> PackageType {
        match self {
            InstalledPackage::Exec(_) => PackageType::Exec,
            InstalledPackage::Deb(_) => PackageType::Deb,
            InstalledPackage::Apt { .. } => PackageType::Apt,
        }
    }

    /// Where it came from: the download URL, or `apt:NAME`.
    pub(crate) fn source(&self) -> String {
        match self {
            InstalledPackage::Exec(v) | InstalledPackage::Deb(v) => v.url.to_string(),
            InstalledPackage::Apt { name } => format!("apt:{name}"),
        }
    }

    pub(crate) fn verified(&self) -> Option<&Verified> {
        match self {
            InstalledPackage::Exec(v) | InstalledPackage::Deb(v) => Some(v),
            InstalledPackage::Apt { .. } => None,
        }
    }
}

impl Receipt {
    /// A receipt for now.
    pub(crate) fn new(
        via: Via,
        domain: Option<String>,
        server: Url,
        bundle_url: Url,
        package: Option<Installed>,
        command: Vec<String>,
        chain: Option<Chain>,
    ) -> Receipt {
        let now = clock::unix_now();
        Receipt {
            time: clock::rfc3339(now),
            unix_time: now.max(0) as u64,
            via: Some(via),
            domain,
            server,
            bundle_url,
            package,
            command,
            chain,
        }
    }

    pub(crate) fn to_json(&self) -> String {
        let mut out = format!(
            "{{\"format\":{FORMAT},\"time\":{},\"unix_time\":{}",
            json::quote(&self.time),
            self.unix_time
        );
        if let Some(via) = self.via {
            member(&mut out, "via", &json::quote(via.name()));
        }
        if let Some(domain) = &self.domain {
            member(&mut out, "domain", &json::quote(domain));
        }
        member(&mut out, "server", &json::quote(self.server.as_str()));
        member(
            &mut out,
            "bundle_url",
            &json::quote(self.bundle_url.as_str()),
        );
        if let Some(p) = &self.package {
            let mut package = format!(
                "{{\"name\":{},\"arch\":{},\"type\":{},\"url\":{}",
                json::quote(&p.name),
                json::quote(&p.arch),
                json::quote(p.package.package_type().name()),
                json::quote(&p.package.source())
            );
            if let Some(v) = p.package.verified() {
                member(&mut package, "sha256", &json::quote(&v.sha256));
                member(&mut package, "size", &v.size.to_string());
            }
            package.push('}');
            member(&mut out, "package", &package);
        }
        member(&mut out, "command", &strings(self.command.iter()));
        if let Some(c) = &self.chain {
            member(&mut out, "reference_from", &json::quote(&c.from));
            member(&mut out, "hops", &strings(c.hops.iter()));
        }
        out.push('}');
        out
    }

    /// Reads a receipt; the error says what is wrong with it.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Receipt, String> {
        std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
        let doc = json::parse(bytes).map_err(|e| format!("it is not valid JSON ({e})"))?;
        if doc.as_object().is_none() {
            return Err(format!("it is {}, not a JSON object", doc.kind()));
        }
        let format = req(&doc, "format", "a whole number", Json::as_u64)?;
        if format != FORMAT {
            return Err(format!("it is format {format}, not {FORMAT}"));
        }
        let via = match opt(&doc, "via", "a string", Json::as_str)? {
            None => None,
            Some(v) => Some(Via::from_name(v).ok_or_else(|| format!("its via '{v}' is unknown"))?),
        };
        let package = match field(&doc, "package") {
            None => None,
            Some(p) if p.as_object().is_some() => Some(installed(p)?),
            Some(_) => return Err("its package is not an object".into()),
        };
        let reference_from = opt(&doc, "reference_from", "a string", Json::as_str)?;
        let hops = opt(&doc, "hops", "a list of strings", string_list)?;
        let chain = match (reference_from, hops) {
            (Some(from), Some(hops)) => Some(Chain {
                from: from.to_string(),
                hops: hops
                    .iter()
                    .map(|h| url("hops", h))
                    .collect::<Result<_, _>>()?,
            }),
            _ => None,
        };
        Ok(Receipt {
            time: req(&doc, "time", "a string", Json::as_str)?.to_string(),
            unix_time: req(&doc, "unix_time", "a whole number", Json::as_u64)?,
            via,
            domain: opt(&doc, "domain", "a string", Json::as_str)?.map(str::to_string),
            server: url("server", req(&doc, "server", "a string", Json::as_str)?)?,
            bundle_url: url(
                "bundle_url",
                req(&doc, "bundle_url", "a string", Json::as_str)?,
            )?,
            package,
            command: req(&doc, "command", "a list of strings", string_list)?
                .into_iter()
                .map(str::to_string)
                .collect(),
            chain,
        })
    }
}

/// Appends `,"key":value` (value already JSON) to an object being written.
fn member(out: &mut String, key: &str, value: &str) {
    out.push(',');
    out.push_str(&json::quote(key));
    out.push(':');
    out.push_str(value);
}

/// A JSON array of strings.
fn strings<T: AsRef<str>>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = items.map(|s| json::quote(s.as_ref())).collect();
    format!("[{}]", items.join(","))
}

/// The member `key`; None when it is absent or null, which mean the same.
fn field<'a>(doc: &'a Json, key: &str) -> Option<&'a Json> {
    doc.get(key).filter(|v| **v != Json::Null)
}

/// The member `key` read by `read`, if there; the error names it.
fn opt<'a, T>(
    doc: &'a Json,
    key: &str,
    what: &str,
    read: impl FnOnce(&'a Json) -> Option<T>,
) -> Result<Option<T>, String> {
    field(doc, key)
        .map(|v| read(v).ok_or_else(|| format!("its {key} is not {what}")))
        .transpose()
}

/// The member `key` read by `read`, which must be there.
fn req<'a, T>(
    doc: &'a Json,
    key: &str,
    what: &str,
    read: impl FnOnce(&'a Json) -> Option<T>,
) -> Result<T, String> {
    field(doc, key)
        .and_then(read)
        .ok_or_else(|| format!("its {key} is missing or not {what}"))
}

fn string_list(v: &Json) -> Option<Vec<&str>> {
    v.as_array()?.iter().map(Json::as_str).collect()
}

fn url(field: &str, v: &str) -> Result<Url, String> {
    parse_url(None, v).map_err(|e| format!("its {field} '{v}' is not a URL ({e})"))
}

/// The stored package (an object), typed; the error says what is wrong
/// with it.
fn installed(p: &Json) -> Result<Installed, String> {
    let string = |key: &str| {
        field(p, key)
            .and_then(Json::as_str)
            .ok_or_else(|| format!("its package {key} is missing or not a string"))
    };
    let kind = string("type")?;
    let source = string("url")?;
    let package_type = PackageType::from_name(kind)
        .ok_or_else(|| format!("its package type '{kind}' is unknown"))?;
    let verified = || -> Result<Verified, String> {
        let wrong = |key: &str, what: &str| format!("its package {key} is not {what}");
        let sha256 = field(p, "sha256")
            .map(|v| v.as_str().ok_or_else(|| wrong("sha256", "a string")))
            .transpose()?;
        let size = field(p, "size")
            .map(|v| v.as_u64().ok_or_else(|| wrong("size", "a whole number")))
            .transpose()?;
        match (sha256, size) {
            (Some(sha256), Some(size)) => Ok(Verified {
                url: url("package url", source)?,
                sha256: sha256.to_string(),
                size,
            }),
            _ => Err(format!("its {kind} package has no sha256 and size")),
        }
    };
    let package = match package_type {
        PackageType::Exec => InstalledPackage::Exec(verified()?),
        PackageType::Deb => InstalledPackage::Deb(verified()?),
        PackageType::Apt => InstalledPackage::Apt {
            name: source
                .strip_prefix("apt:")
                .ok_or_else(|| format!("its apt package comes from '{source}'"))?
                .to_string(),
        },
    };
    Ok(Installed {
        name: string("name")?.to_string(),
        arch: string("arch")?.to_string(),
        package,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_types() {
        let r = Receipt::new(
            Via::Link,
            Some("example.com".into()),
            Url::parse("https://cfg.example.com/b").unwrap(),
            Url::parse("https://cfg2.example.com/b").unwrap(),
            Some(Installed {
                name: "corp".into(),
                arch: "any".into(),
                package: InstalledPackage::Exec(Verified {
                    url: Url::parse("https://cfg2.example.com/corp.sh").unwrap(),
                    sha256: "ab".repeat(32),
                    size: 5,
                }),
            }),
            vec!["/usr/bin/corp".into()],
            Some(Chain {
                from: "the environment".into(),
                hops: vec![Url::parse("file:///media/usb/b.json").unwrap()],
            }),
        );
        assert_eq!(Receipt::from_json(r.to_json().as_bytes()).unwrap(), r);
        let json = r.to_json();
        let err = |from: &str, to: &str| {
            Receipt::from_json(json.replace(from, to).as_bytes()).unwrap_err()
        };
        assert!(err("\"exec\"", "\"rpm\"").contains("rpm"));
        assert!(err("\"exec\"", "\"apt\"").contains("apt package"));
        assert!(err("\"size\":5", "\"size\":null").contains("no sha256"));
        for t in [PackageType::Exec, PackageType::Deb, PackageType::Apt] {
            assert_eq!(PackageType::from_name(t.name()), Some(t));
        }
    }

    /// Receipts as the nanoserde-derived writer stored them (None left
    /// out), and with null for None, still read.
    #[test]
    fn reads_receipts_written_before() {
        let full = r#"{"format":1,"time":"2025-03-01T10:00:00Z","unix_time":1740823200,"via":"reference","domain":"example.com","server":"https://cfg.example.com/b","bundle_url":"https://cfg2.example.com/b","package":{"name":"corp","arch":"any","type":"exec","url":"https://cfg2.example.com/corp.sh","sha256":"abababababababababababababababababababababababababababababababab","size":5},"command":["/usr/bin/corp","--enroll \"x\"\n"],"reference_from":"the environment","hops":["file:///media/usb/b.json"]}"#;
        let r = Receipt::from_json(full.as_bytes()).unwrap();
        assert_eq!(r.to_json(), full);
        assert_eq!(r.time, "2025-03-01T10:00:00Z");
        assert_eq!(r.unix_time, 1740823200);
        assert_eq!(r.via, Some(Via::Reference));
        assert_eq!(r.command[1], "--enroll \"x\"\n");
        assert_eq!(r.chain.as_ref().unwrap().hops.len(), 1);
        assert_eq!(
            r.package.as_ref().unwrap().package.verified().unwrap().size,
            5
        );

        let bare = r#"{"format":1,"time":"2024-01-01T00:00:00Z","unix_time":1704067200,"server":"https://a.example/","bundle_url":"https://a.example/b","command":["/x"]}"#;
        let r = Receipt::from_json(bare.as_bytes()).unwrap();
        assert_eq!(r.to_json(), bare);
        assert_eq!(
            (r.via, &r.domain, &r.package, &r.chain),
            (None, &None, &None, &None)
        );
        let nulls = bare.replace(
            "\"command\"",
            "\"via\":null,\"domain\":null,\"package\":null,\"reference_from\":null,\"hops\":null,\"command\"",
        );
        assert_eq!(Receipt::from_json(nulls.as_bytes()).unwrap(), r);

        let apt = r#"{"format":1,"time":"2024-01-01T00:00:00Z","unix_time":1704067200,"via":"dns","server":"https://a.example/","bundle_url":"https://a.example/b","package":{"name":"c","arch":"any","type":"apt","url":"apt:corp"},"command":["/x"]}"#;
        let r = Receipt::from_json(apt.as_bytes()).unwrap();
        assert_eq!(r.to_json(), apt);
        assert_eq!(
            r.package.unwrap().package,
            InstalledPackage::Apt {
                name: "corp".into()
            }
        );
    }

    #[test]
    fn damage_is_named() {
        let bare = r#"{"format":1,"time":"2024-01-01T00:00:00Z","unix_time":1704067200,"server":"https://a.example/","bundle_url":"https://a.example/b","command":["/x"]}"#;
        let err = |from: &str, to: &str| {
            let text = bare.replace(from, to);
            assert_ne!(text, bare, "{from}");
            Receipt::from_json(text.as_bytes()).unwrap_err()
        };
        assert_eq!(err("\"format\":1", "\"format\":2"), "it is format 2, not 1");
        assert_eq!(
            err("\"time\":\"2024-01-01T00:00:00Z\",", ""),
            "its time is missing or not a string"
        );
        assert_eq!(
            err("1704067200", "\"1704067200\""),
            "its unix_time is missing or not a whole number"
        );
        assert!(
            err("https://a.example/\"", "x\"").starts_with("its server 'x' is not a URL ("),
            "{}",
            err("https://a.example/\"", "x\"")
        );
        assert_eq!(
            err("[\"/x\"]", "[1]"),
            "its command is missing or not a list of strings"
        );
        assert_eq!(
            err("\"command\"", "\"via\":\"usb\",\"command\""),
            "its via 'usb' is unknown"
        );
        assert_eq!(
            err("\"command\"", "\"domain\":7,\"command\""),
            "its domain is not a string"
        );
        assert_eq!(
            err("\"command\"", "\"package\":[],\"command\""),
            "its package is not an object"
        );
        assert_eq!(
            err(
                "\"command\"",
                "\"package\":{\"name\":\"c\",\"type\":\"apt\",\"url\":\"apt:c\"},\"command\""
            ),
            "its package arch is missing or not a string"
        );
        assert!(err("{", "[").starts_with("it is not valid JSON ("));
        assert_eq!(
            Receipt::from_json(b"[]").unwrap_err(),
            "it is an array, not a JSON object"
        );
        assert_eq!(
            Receipt::from_json(b"\xff").unwrap_err(),
            "it is not UTF-8 text"
        );
    }
}

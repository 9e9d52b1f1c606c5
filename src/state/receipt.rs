//! The receipt: written last by a run, it says the device is provisioned,
//! from where and with what. `preconf status` shows it.

use nanoserde::{DeJson, SerJson};

use crate::clock;
use url::Url;
use wire::{Wire, WireInstalled};

const FORMAT: u32 = 1;

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
        let package = self.package.as_ref().map(|p| {
            let verified = p.package.verified();
            WireInstalled {
                name: p.name.clone(),
                arch: p.arch.clone(),
                kind: p.package.package_type().name().to_string(),
                url: p.package.source(),
                sha256: verified.map(|v| v.sha256.clone()),
                size: verified.map(|v| v.size),
            }
        });
        Wire {
            format: FORMAT,
            time: self.time.clone(),
            unix_time: self.unix_time,
            via: self.via.map(|v| v.name().to_string()),
            domain: self.domain.clone(),
            server: self.server.to_string(),
            bundle_url: self.bundle_url.to_string(),
            package,
            command: self.command.clone(),
            reference_from: self.chain.as_ref().map(|c| c.from.clone()),
            hops: self
                .chain
                .as_ref()
                .map(|c| c.hops.iter().map(Url::to_string).collect()),
        }
        .serialize_json()
    }

    /// Reads a receipt; the error says what is wrong with it.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Receipt, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
        let w = Wire::deserialize_json(text).map_err(|e| e.to_string())?;
        if w.format != FORMAT {
            return Err(format!("it is format {}, not {FORMAT}", w.format));
        }
        let package = w.package.map(installed).transpose()?;
        let via = match w.via {
            None => None,
            Some(v) => Some(Via::from_name(&v).ok_or_else(|| format!("its via '{v}' is unknown"))?),
        };
        let chain = match (w.reference_from, w.hops) {
            (Some(from), Some(hops)) => Some(Chain {
                from,
                hops: hops
                    .iter()
                    .map(|h| url("hops", h))
                    .collect::<Result<_, _>>()?,
            }),
            _ => None,
        };
        Ok(Receipt {
            time: w.time,
            unix_time: w.unix_time,
            via,
            domain: w.domain,
            server: url("server", &w.server)?,
            bundle_url: url("bundle_url", &w.bundle_url)?,
            package,
            command: w.command,
            chain,
        })
    }
}

fn url(field: &str, v: &str) -> Result<Url, String> {
    Url::parse(v).map_err(|e| format!("its {field} '{v}' is not a URL ({e})"))
}

/// The stored package, typed; the error says what is wrong with it.
fn installed(p: WireInstalled) -> Result<Installed, String> {
    let kind = PackageType::from_name(&p.kind)
        .ok_or_else(|| format!("its package type '{}' is unknown", p.kind))?;
    let verified = || -> Result<Verified, String> {
        match (p.sha256.clone(), p.size) {
            (Some(sha256), Some(size)) => Ok(Verified {
                url: url("package url", &p.url)?,
                sha256,
                size,
            }),
            _ => Err(format!("its {} package has no sha256 and size", p.kind)),
        }
    };
    let package = match kind {
        PackageType::Exec => InstalledPackage::Exec(verified()?),
        PackageType::Deb => InstalledPackage::Deb(verified()?),
        PackageType::Apt => InstalledPackage::Apt {
            name: p
                .url
                .strip_prefix("apt:")
                .ok_or_else(|| format!("its apt package comes from '{}'", p.url))?
                .to_string(),
        },
    };
    Ok(Installed {
        name: p.name,
        arch: p.arch,
        package,
    })
}

// nanoserde's derives expand to code clippy flags, and take no pub(super).
#[expect(clippy::question_mark, reason = "nanoserde's derive code")]
#[expect(unreachable_pub, reason = "nanoserde's derives need plain pub")]
mod wire {
    use nanoserde::{DeJson, SerJson};

    /// The receipt as stored: format 1.
    #[derive(DeJson, SerJson)]
    pub struct Wire {
        pub format: u32,
        pub time: String,
        pub unix_time: u64,
        pub via: Option<String>,
        pub domain: Option<String>,
        pub server: String,
        pub bundle_url: String,
        pub package: Option<WireInstalled>,
        pub command: Vec<String>,
        pub reference_from: Option<String>,
        pub hops: Option<Vec<String>>,
    }

    #[derive(DeJson, SerJson)]
    pub struct WireInstalled {
        pub name: String,
        pub arch: String,
        #[nserde(rename = "type")]
        pub kind: String,
        pub url: String,
        pub sha256: Option<String>,
        pub size: Option<u64>,
    }
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
}

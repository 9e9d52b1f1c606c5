//! Step 3: where the server URL comes from.
//!
//! A [`Source`] yields the ordered list of [`Candidate`] servers to try:
//! an explicit URL, or the SRV record of the domain (RFC 2782 ordering,
//! with the path from the TXT record at the same name, as in RFC 6763).

use std::net::IpAddr;

use hickory_proto::rr::{RData, RecordType};
use url::Url;

use crate::ask::Person;
use crate::confirm;
use crate::domain::{self, Nameservers};
use crate::error::{Error, Exit, Result, Step};
use crate::net::dns::{Dns, LookupFailure};
use crate::report::say;
use crate::settings::Settings;

/// Where the server URL comes from.
#[derive(Debug, Clone)]
pub(crate) enum ServerSource {
    /// Named by the user or the settings: no DNS discovery.
    Explicit(Url),
    /// SRV `<service>.<domain>`.
    Srv { service: String, domain: String },
}

impl ServerSource {
    /// The domain the person confirmed, which the guard holds servers to.
    pub(crate) fn domain(&self) -> Option<&str> {
        match self {
            ServerSource::Explicit(_) => None,
            ServerSource::Srv { domain, .. } => Some(domain),
        }
    }
}

/// One server to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) url: Url,
    /// SRV priority and weight, for the step line; none for explicit URLs.
    srv: Option<(u16, u16)>,
}

impl Candidate {
    /// A server named outright (`--server`, a link), not found by SRV.
    pub(crate) fn explicit(url: Url) -> Candidate {
        Candidate { url, srv: None }
    }

    pub(crate) fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }
}

/// Steps 1 and 2 when needed: `--server`, or SRV under the domain learned
/// from DHCP and confirmed by the person. Also the nameservers of the lease
/// the domain came from, for a device without resolv.conf.
pub(crate) fn source(s: &Settings, person: &mut Person) -> Result<(ServerSource, Vec<IpAddr>)> {
    if let Some(url) = &s.server {
        say(
            Step::Domain,
            format!("not needed: the server is {url} (--server)"),
        );
        return Ok((ServerSource::Explicit(url.clone()), Vec::new()));
    }
    let mut lease_dns = Vec::new();
    let domain = match &s.domain {
        Some(d) => {
            say(Step::Domain, format!("{d} (--domain)"));
            d.clone()
        }
        None => match domain::learn(&s.lease_files, s.resolv_conf.as_deref())? {
            Some(l) => {
                say(Step::Domain, format!("{} (from {})", l.domain, l.source));
                lease_dns = l.nameservers;
                confirm::learned(l.domain, s.assume_yes, person)?
            }
            None => confirm::ask_domain(person)?,
        },
    };
    let source = ServerSource::Srv {
        service: s.service.clone(),
        domain,
    };
    Ok((source, lease_dns))
}

/// The servers to try, in order, said on the step line.
pub(crate) fn candidates(
    source: &ServerSource,
    dns: &Dns,
    nameservers: &Nameservers,
) -> Result<Vec<Candidate>> {
    let found = match source {
        ServerSource::Explicit(url) => vec![Candidate::explicit(url.clone())],
        ServerSource::Srv { service, domain } => {
            say(Step::Discover, format!("asking {nameservers}"));
            from_srv(dns, &format!("{service}.{domain}"))?
        }
    };
    say(Step::Discover, describe(source, &found));
    Ok(found)
}

fn describe(source: &ServerSource, cands: &[Candidate]) -> String {
    let list: Vec<String> = cands
        .iter()
        .map(|c| match c.srv {
            Some((p, w)) => format!("{} (priority {p}, weight {w})", c.url),
            None => c.url.to_string(),
        })
        .collect();
    match source {
        ServerSource::Explicit(_) => format!("server {}", list.join(", ")),
        ServerSource::Srv { service, domain } => {
            format!("SRV {service}.{domain}: {}", list.join(", then "))
        }
    }
}

/// One SRV record, as RFC 2782 orders them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Srv {
    priority: u16,
    weight: u16,
    port: u16,
    target: String,
}

fn from_srv(dns: &Dns, name: &str) -> Result<Vec<Candidate>> {
    let records = dns
        .query(name, RecordType::SRV)
        .map_err(|f| srv_error(name, f))?;
    let srvs: Vec<Srv> = records
        .iter()
        .filter_map(|r| match r {
            RData::SRV(s) => Some(Srv {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_ascii().trim_end_matches('.').to_string(),
            }),
            _ => None,
        })
        .collect();
    if srvs.is_empty() {
        return Err(Error::new(
            Step::Discover,
            Exit::Unavailable,
            format!(
                "{name} exists but has no SRV record; ask your IT admin to publish one, or pass --server URL."
            ),
        ));
    }
    // RFC 2782: a lone target of "." means the service is decidedly not here.
    let srvs: Vec<Srv> = srvs.into_iter().filter(|s| !s.target.is_empty()).collect();
    if srvs.is_empty() {
        return Err(Error::new(
            Step::Discover,
            Exit::Unavailable,
            format!(
                "the SRV record {name} says this domain offers no configuration service (target \".\"); ask your IT admin, or pass --server URL."
            ),
        ));
    }
    let path = txt_path(dns, name)?;
    let ordered = order(srvs, &mut random_u32);
    ordered
        .into_iter()
        .map(|s| {
            let url = Url::parse(&format!("https://{}:{}{}", s.target, s.port, path)).map_err(|e| {
                Error::new(
                    Step::Discover,
                    Exit::DataErr,
                    format!("the SRV/TXT records of {name} make no valid URL ({e}); ask your IT admin to fix them."),
                )
            })?;
            Ok(Candidate { url, srv: Some((s.priority, s.weight)) })
        })
        .collect()
}

fn srv_error(name: &str, f: LookupFailure) -> Error {
    let (exit, advice) = match f {
        LookupFailure::NoSuchName { .. } => (
            Exit::Unavailable,
            "check the domain, ask your IT admin to publish the SRV record, or pass --server URL",
        ),
        LookupFailure::Unreachable(_) => (
            Exit::TempFail,
            "check the network and --dns, then try again",
        ),
        // Both are checked when read; what is left is a name too long in all.
        LookupFailure::BadName(_) => (Exit::Config, "check the domain and --service"),
        LookupFailure::NoNameserver => (Exit::Config, "check the network settings"),
    };
    Error::new(Step::Discover, exit, format!("SRV {name}: {f}; {advice}."))
}

/// The `path=` of the TXT record at `name` (DNS-SD style); `/` when absent.
fn txt_path(dns: &Dns, name: &str) -> Result<String> {
    let records = match dns.query(name, RecordType::TXT) {
        Ok(r) => r,
        Err(LookupFailure::NoSuchName { .. }) => Vec::new(),
        Err(f) => return Err(srv_error(name, f)),
    };
    for r in &records {
        let RData::TXT(txt) = r else { continue };
        for s in txt.txt_data() {
            if let Some(v) = s.strip_prefix(b"path=") {
                let v = String::from_utf8_lossy(v).into_owned();
                return Ok(if v.starts_with('/') {
                    v
                } else {
                    format!("/{v}")
                });
            }
        }
    }
    Ok("/".to_string())
}

/// RFC 2782 order: lowest priority first; within a priority, repeatedly pick
/// a record at random with probability proportional to its weight (records
/// of weight 0 placed first, so they keep a small chance).
fn order(mut srvs: Vec<Srv>, rand: &mut dyn FnMut() -> u32) -> Vec<Srv> {
    srvs.sort_by_key(|s| (s.priority, s.weight != 0));
    let mut out = Vec::with_capacity(srvs.len());
    while !srvs.is_empty() {
        let p = srvs[0].priority;
        let n = srvs.iter().take_while(|s| s.priority == p).count();
        let mut group: Vec<Srv> = srvs.drain(..n).collect();
        while !group.is_empty() {
            let total: u32 = group.iter().map(|s| s.weight as u32).sum();
            let pick = rand() % (total + 1);
            let mut running = 0;
            let idx = group
                .iter()
                .position(|s| {
                    running += s.weight as u32;
                    running >= pick
                })
                .unwrap_or(0);
            out.push(group.remove(idx));
        }
    }
    out
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the kernel's random source is unavailable");
    u32::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 443,
            target: target.into(),
        }
    }

    #[test]
    fn priority_first_then_weight() {
        let mut zero = || 0;
        let got = order(
            vec![srv(20, 0, "c"), srv(10, 5, "b"), srv(10, 0, "a")],
            &mut zero,
        );
        let names: Vec<_> = got.iter().map(|s| s.target.as_str()).collect();
        // pick 0 selects the first weight-0 record within priority 10.
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn weights_are_proportional() {
        let mut state = 0x2545_f491_u32;
        let mut rng = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let mut heavy_first = 0;
        for _ in 0..10_000 {
            let o = order(vec![srv(1, 10, "light"), srv(1, 90, "heavy")], &mut rng);
            if o[0].target == "heavy" {
                heavy_first += 1;
            }
        }
        assert!((8_600..9_400).contains(&heavy_first), "{heavy_first}");
    }
}

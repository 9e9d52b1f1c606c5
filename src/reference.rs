//! Provisioning from a `provisioning.reference`, the OSGi way in: when any
//! provider names one, steps 1 to 4 (domain, confirm, discover, guard) are
//! skipped and the bundle comes from there. A bundle that names no
//! configurator may hand over the next reference in its `properties`; the
//! run follows it, up to `prm.reference.max.hops`, and stops at a loop.

use url::Url;

use crate::ask::Person;
use crate::credentials::{Asker, PasswordSource};
use crate::device;
use crate::discover::Candidate;
use crate::domain;
use crate::error::{Error, Exit, Result, Step};
use crate::fetch::{self, Fetched};
use crate::net::dns::Dns;
use crate::net::http::Http;
use crate::net::tls::{self, Tls};
use crate::progress::{self, Event};
use crate::report::say;
use crate::run::{DNS_TIMEOUT, Found, Outcome, Start, provision, received};
use crate::settings::{Key, Settings, Store};
use crate::state::{Chain, Via};

/// Follows `first`, the reference in `s` (and any that bundles hand on),
/// to a bundle that names a configurator, and provisions from it.
pub(crate) fn follow(s: &Settings, store: &mut Store, start: Start, first: Url) -> Result<Outcome> {
    let Start {
        state,
        mut tls,
        mut device_id,
    } = start;
    let mut s = s.clone();
    let mut person = Person::find();
    let mut asker = Asker::new(PasswordSource::from_env(), s.user.clone());
    let mut next = first;
    let mut chain = Chain {
        from: store.provider_of(Key::Reference).unwrap_or_default(),
        hops: Vec::new(),
    };
    // The login goes to the first reference's server alone: a server
    // further down a chain was named by a bundle, not by the device.
    let login_origin = next.origin();
    // Host names of references are looked up like any other: `--dns`, else
    // resolv.conf. A reference by address never asks.
    let nameservers = domain::nameservers(&s.dns, s.resolv_conf.as_deref(), &[])?.addrs;
    let dns = Dns::new(nameservers, s.io_timeout.min(DNS_TIMEOUT));
    progress::connect(s.prv_log.as_ref(), &tls.config, &dns);
    progress::event(
        Event::DiscoveryComplete,
        format!("provisioning.reference {next} (from {})", chain.from),
    );
    loop {
        enter(&mut chain, &next, s.max_hops)?;
        let may_log_in = next.origin() == login_origin;
        let (http, fetched) = hop(
            &s,
            &tls,
            device_id.as_deref(),
            (&next, may_log_in),
            &dns,
            &mut asker,
            &mut person,
        )?;
        // The bundle's properties are checked, and join the stored
        // provider, before anything else: the next hop, or the
        // configurator, sees the new dictionary.
        s = received(&s, store, &fetched)?;
        if fetched.bundle.configurator.is_some() || s.start_command.is_some() {
            let found = Found {
                via: Via::Reference,
                domain: None,
                chain: Some(chain),
            };
            return provision(
                &s,
                store,
                &state,
                &http,
                &fetched,
                found,
                device_id.as_deref(),
            );
        }
        next = handed_on(&fetched).ok_or_else(|| {
            Error::new(
                Step::Reference,
                Exit::DataErr,
                format!(
                    "the bundle from {} names no configurator and no further provisioning.reference; ask your IT admin to fix it.",
                    fetched.url
                ),
            )
        })?;
        // The bundle may have changed whom to trust and who the device is.
        tls = tls::configure(&s.trust())?;
        device_id = device::id(&s)?.or(fetched.bundle.device_id.clone());
    }
}

/// Adds `url` to the chain, or ends the run at a loop or the hop limit.
fn enter(chain: &mut Chain, url: &Url, max_hops: usize) -> Result<()> {
    let stop = |why: String| {
        let mut hops: Vec<String> = chain.hops.iter().map(Url::to_string).collect();
        hops.push(url.to_string());
        Error::new(
            Step::Reference,
            Exit::DataErr,
            format!(
                "{why} ({}); ask your IT admin to fix the references.",
                hops.join(" -> ")
            ),
        )
    };
    if chain.hops.contains(url) {
        return Err(stop(format!("the references loop back to {url}")));
    }
    if chain.hops.len() >= max_hops {
        return Err(stop(format!(
            "more than {max_hops} references to follow (prm.reference.max.hops)"
        )));
    }
    chain.hops.push(url.clone());
    let from = if chain.hops.len() == 1 {
        format!(" (provisioning.reference from {})", chain.from)
    } else {
        String::new()
    };
    say(
        Step::Reference,
        format!("hop {}: {url}{from}", chain.hops.len()),
    );
    Ok(())
}

/// The bundle at one reference, and the client that fetched it (to
/// download the package with).
fn hop(
    s: &Settings,
    tls: &Tls,
    device_id: Option<&str>,
    (url, may_log_in): (&Url, bool),
    dns: &Dns,
    asker: &mut Asker,
    person: &mut Person,
) -> Result<(Http, Fetched)> {
    let (config, dns) = (tls.config.clone(), dns.clone());
    // The client, not this step, holds the rule: plain http only when the
    // device allows it, whatever a bundle names.
    let http = if s.insecure_http {
        Http::allowing_plain_http(config, dns, s.io_timeout, device_id)
    } else {
        Http::new(config, dns, s.io_timeout, device_id)
    };
    if url.scheme() == "file" {
        return Ok((http, fetch::from_file(url)?));
    }
    say(Step::Fetch, &tls.summary);
    let candidate = Candidate::explicit(with_spid(url, device_id));
    let fetched = fetch::from_reference(&http, &candidate, may_log_in, asker, person)?;
    Ok((http, fetched))
}

/// The reference with `service_platform_id=<spid>`, as the OSGi reference
/// implementation asks its backend.
fn with_spid(url: &Url, spid: Option<&str>) -> Url {
    let Some(spid) = spid else {
        return url.clone();
    };
    let mut out = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "service_platform_id")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("service_platform_id", spid);
    out
}

/// The next reference a bundle hands on in its `properties`, already
/// checked by `take_properties` as any reference is. It is followed even
/// when a higher provider (the command line) names another: that one is
/// where this chain began.
fn handed_on(fetched: &Fetched) -> Option<Url> {
    let name = Key::Reference.name();
    let (_, value) = fetched
        .bundle
        .properties
        .iter()
        .rev()
        .find(|(n, _)| n == name)?;
    crate::settings::reference_value(value).ok()
}

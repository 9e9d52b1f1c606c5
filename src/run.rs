//! A provisioning run, step by step. Each step is a module; this file only
//! passes plain values from one to the next.

use std::time::Duration;

use crate::ask::Person;
use crate::credentials::{Asker, PasswordSource};
use crate::deadline;
use crate::device;
use crate::discover::{self, ServerSource};
use crate::domain;
use crate::error::Result;
use crate::error::{Error, Exit, Step};
use crate::fetch::{self, Fetched};
use crate::guard;
use crate::handoff::Handoff;
use crate::install;
use crate::net::dns::Dns;
use crate::net::http::Http;
use crate::net::tls::{self, Tls};
use crate::progress::{self, Event};
use crate::reference;
use crate::report::say;
use crate::settings::{self, Key, Settings, Store};
use crate::state::{Chain, Receipt, State, Via};

/// How a run ended, when it did not exec the configurator.
pub(crate) enum Outcome {
    /// --no-exec: the command that would have run.
    Installed(String),
    /// A receipt says this device is done.
    AlreadyProvisioned(Box<Receipt>),
}

/// A DNS answer is small and near: it needs less patience than a download.
pub(crate) const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// What every way in does first.
pub(crate) struct Start {
    pub(crate) state: State,
    pub(crate) tls: Tls,
    pub(crate) device_id: Option<String>,
}

/// Starts the progress log, mends what a power cut left, stops when the
/// device is already provisioned, reads every certificate and key, and
/// starts the clock.
pub(crate) fn start(s: &Settings) -> Result<std::result::Result<Start, Outcome>> {
    progress::begin(s);
    let state = State::new(s.state_dir());
    // A power cut may have stopped an earlier run half-way: mend first.
    state.recover()?;
    if !s.force && !s.reprovision {
        if let Some(r) = state.receipt()? {
            return Ok(Err(Outcome::AlreadyProvisioned(Box::new(r))));
        }
    }
    // Every certificate and key is read before the first question and the
    // first packet, so a bad file fails at once.
    let tls = tls::configure(&s.trust())?;
    let device_id = device::id(s)?;
    progress::identify(device_id.as_deref());
    progress::event(
        Event::RunStarted,
        format!(
            "preconf {} ({}) started",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH
        ),
    );
    deadline::arm(s.timeout, expired);
    Ok(Ok(Start {
        state,
        tls,
        device_id,
    }))
}

/// A run: from a provisioning.reference if any provider names one, else
/// by DNS discovery (or `--server`).
pub(crate) fn run(s: &Settings, store: &mut Store) -> Result<Outcome> {
    let start = match start(s)? {
        Ok(start) => start,
        Err(done) => return Ok(done),
    };
    if let Some(first) = s.reference.clone() {
        return reference::follow(s, store, start, first);
    }
    let Start {
        state,
        tls,
        device_id,
    } = start;
    let mut person = Person::find();

    let (source, lease_dns) = discover::source(s, &mut person)?;
    let nameservers = domain::nameservers(&s.dns, s.resolv_conf.as_deref(), &lease_dns)?;
    let dns = Dns::new(nameservers.addrs.clone(), s.io_timeout.min(DNS_TIMEOUT));
    progress::connect(s.prv_log.as_ref(), &tls.config, &dns);
    let candidates = discover::candidates(&source, &dns, &nameservers)?;
    let candidates = guard::check(
        candidates,
        source.domain(),
        s.assume_yes,
        &mut person,
        "Send your login to it?",
    )?;
    let urls: Vec<&str> = candidates.iter().map(|c| c.url.as_str()).collect();
    progress::event(
        Event::DiscoveryComplete,
        format!("configuration server(s): {}", urls.join(", ")),
    );

    say(Step::Fetch, &tls.summary);
    let http = Http::new(tls.config, dns, s.io_timeout, device_id.as_deref());
    let mut asker = Asker::new(PasswordSource::from_env(), s.user.clone());
    let fetched = fetch::fetch(&http, &candidates, &mut asker, &mut person)?;
    let via = match source {
        ServerSource::Explicit(_) => Via::Server,
        ServerSource::Srv { .. } => Via::Dns,
    };
    let found = Found {
        via,
        domain: source.domain().map(str::to_string),
        chain: None,
    };
    let s = &received(s, store, &fetched)?;
    provision(
        s,
        store,
        &state,
        &http,
        &fetched,
        found,
        device_id.as_deref(),
    )
}

/// How the bundle was found, for the receipt.
pub(crate) struct Found {
    pub(crate) via: Via,
    pub(crate) domain: Option<String>,
    pub(crate) chain: Option<Chain>,
}

/// What every way in does with a fetched bundle: reports it, takes its
/// properties (`take_properties`), and sends the progress log where the
/// dictionary now says, else where the bundle says.
pub(crate) fn received(s: &Settings, store: &mut Store, fetched: &Fetched) -> Result<Settings> {
    progress::identify(fetched.bundle.device_id.as_deref());
    progress::event(
        Event::BundleReceived,
        format!("bundle from {}", fetched.url),
    );
    let s = take_properties(s, store, fetched)?;
    // A bundle's report_url only from a server verified by TLS, as its
    // properties: a file or plain http would send the events anywhere.
    let verified = fetched.url.scheme() == "https";
    let report_url = fetched.bundle.report_url.as_ref().filter(|_| verified);
    progress::send_to(s.prv_log.as_ref().or(report_url));
    Ok(s)
}

/// The bundle's `properties` into the stored provider, checked as a whole
/// first; the settings of the dictionary they make. Only from a server
/// verified by TLS: what a file or plain http carried is used by this run
/// (a handed-on reference is followed) but never kept. A handed-on
/// `provisioning.reference` is never kept either: the next run starts where
/// the chain began.
fn take_properties(s: &Settings, store: &mut Store, fetched: &Fetched) -> Result<Settings> {
    let properties = &fetched.bundle.properties;
    for (name, value) in properties {
        settings::server_may_set(name)
            .and_then(|()| settings::check_value(name, value, s.insecure_http))
            .map_err(|why| {
                Error::new(
                    Step::Bundle,
                    Exit::DataErr,
                    format!(
                        "the bundle from {} sets the property {name}, which {why}; ask your IT admin to fix it.",
                        fetched.url
                    ),
                )
            })?;
    }
    let kept: Vec<&(String, settings::Value)> = properties
        .iter()
        .filter(|(name, _)| name != Key::Reference.name())
        .collect();
    if kept.is_empty() {
        return Ok(s.clone());
    }
    if fetched.url.scheme() != "https" {
        say(
            Step::Bundle,
            format!(
                "not storing the properties of {} ({}): only a server verified by TLS may hand them over",
                fetched.url,
                names(&kept)
            ),
        );
        return Ok(s.clone());
    }
    let s = store.change(|stored| {
        for (name, value) in &kept {
            // Under the key's own name: `device-id` is provisioning.spid.
            let name = settings::Name::parse(name).map_or(name.clone(), |n| n.as_str().to_string());
            stored.set(&name, value.clone());
        }
    })?;
    say(
        Step::Bundle,
        format!("propert(ies) stored: {}", names(&kept)),
    );
    Ok(s)
}

fn names(properties: &[&(String, settings::Value)]) -> String {
    let names: Vec<&str> = properties.iter().map(|(n, _)| n.as_str()).collect();
    names.join(", ")
}

/// Steps 7 to 9, from a fetched bundle: whatever found the bundle, the
/// rest of a run is the same. `s` already holds the bundle's properties
/// (`received`).
pub(crate) fn provision(
    s: &Settings,
    store: &mut Store,
    state: &State,
    http: &Http,
    fetched: &Fetched,
    found: Found,
    device_id: Option<&str>,
) -> Result<Outcome> {
    // props.txt counts as loaded once a run got this far with it: an
    // earlier failure leaves it to the next run.
    store.keep_file()?;
    let bundle = &fetched.bundle;
    state.prepare()?;
    let installed = match &bundle.configurator {
        Some(configurator) => {
            let pkg = configurator
                .package_for(std::env::consts::ARCH)
                .map_err(|why| {
                    Error::new(
                        Step::Bundle,
                        Exit::DataErr,
                        format!(
                            "the bundle from {}: {why}; ask your IT admin to add one.",
                            fetched.url
                        ),
                    )
                })?;
            say(
                Step::Bundle,
                configurator.describe(bundle.holder.as_deref(), pkg),
            );
            let name = &configurator.name;
            Some(install::package(pkg, name, fetched, http, &s.root, state)?)
        }
        None => None,
    };
    // provisioning.start.bundle wins over the bundle's command; without a
    // configurator in the bundle it names one already on the device.
    let command = match (&s.start_command, &bundle.configurator) {
        (Some(command), _) => {
            say(
                Step::Handoff,
                format!("provisioning.start.bundle from {}", from(store)),
            );
            command.clone()
        }
        (None, Some(c)) => c.command.clone(),
        (None, None) => {
            return Err(Error::new(
                Step::Bundle,
                Exit::DataErr,
                format!(
                    "the bundle from {} names no configurator; ask your IT admin to add one.",
                    fetched.url
                ),
            ));
        }
    };
    // After the package, so a failed install leaves an earlier run's in place.
    let certs = bundle.certificates.iter();
    state.store(
        &fetched.raw,
        certs.map(|c| (c.name.as_str(), c.pem.as_str())),
    )?;
    say(
        Step::Install,
        format!(
            "bundle and {} certificate(s) stored in {}",
            bundle.certificates.len(),
            state.dir.display()
        ),
    );
    progress::event(
        Event::InstallComplete,
        match &installed {
            Some(i) => format!("configurator {} installed", i.name),
            None => "bundle stored; the configurator is on the device already".to_string(),
        },
    );
    let mut handoff = Handoff::new(
        bundle,
        &command,
        &fetched.server.url,
        &s.root,
        state,
        device_id,
    );
    if let Some(config) = &s.agent_config {
        state.write_agent_config(config)?;
        handoff = handoff.with_agent_config(state.agent_config());
    }
    let receipt = Receipt::new(
        found.via,
        found.domain,
        fetched.server.url.clone(),
        fetched.url.clone(),
        installed,
        command.words(),
        found.chain,
    );
    // Written last: from here on the device counts as provisioned.
    state.write_receipt(&receipt)?;
    store.record(0, &format!("provisioned from {}", fetched.url));
    handoff
        .start(s.no_exec, s.spawn_handoff)
        .map(Outcome::Installed)
}

/// Where provisioning.start.bundle came from, for the step line.
fn from(store: &Store) -> String {
    store
        .provider_of(Key::StartBundle)
        .unwrap_or_else(|| "the dictionary".to_string())
}

pub(crate) fn expired() -> i32 {
    let e = Error::new(
        Step::Deadline,
        Exit::TempFail,
        "the run did not finish in time (--timeout); check the network and try again.",
    );
    eprintln!("preconf: error: {e}");
    progress::failed(&e);
    progress::end();
    e.code()
}

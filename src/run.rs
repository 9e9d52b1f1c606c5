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
use crate::report::say;
use crate::settings::Settings;
use crate::state::{Receipt, State, Via};

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

/// Mends what a power cut left, stops when the device is already
/// provisioned, reads every certificate and key, and starts the clock.
pub(crate) fn start(s: &Settings) -> Result<std::result::Result<Start, Outcome>> {
    let state = State::new(s.state_dir());
    // A power cut may have stopped an earlier run half-way: mend first.
    state.recover()?;
    if !s.force {
        if let Some(r) = state.receipt()? {
            return Ok(Err(Outcome::AlreadyProvisioned(Box::new(r))));
        }
    }
    // Every certificate and key is read before the first question and the
    // first packet, so a bad file fails at once.
    let tls = tls::configure(&s.trust())?;
    let device_id = device::id(s)?;
    deadline::arm(s.timeout, expired);
    Ok(Ok(Start {
        state,
        tls,
        device_id,
    }))
}

pub(crate) fn run(s: &Settings) -> Result<Outcome> {
    let Start {
        state,
        tls,
        device_id,
    } = match start(s)? {
        Ok(start) => start,
        Err(done) => return Ok(done),
    };
    let mut person = Person::find();

    let (source, lease_dns) = discover::source(s, &mut person)?;
    let nameservers = domain::nameservers(&s.dns, s.resolv_conf.as_deref(), &lease_dns)?;
    let dns = Dns::new(nameservers.addrs.clone(), s.io_timeout.min(DNS_TIMEOUT));
    let candidates = discover::candidates(&source, &dns, &nameservers)?;
    let candidates = guard::check(
        candidates,
        source.domain(),
        s.assume_yes,
        &mut person,
        "Send your login to it?",
    )?;

    say(Step::Fetch, &tls.summary);
    let http = Http::new(tls.config, dns, s.io_timeout, device_id.as_deref());
    let mut asker = Asker::new(PasswordSource::from_env(), s.user.clone());
    let fetched = fetch::fetch(&http, &candidates, &mut asker, &mut person)?;
    let via = match source {
        ServerSource::Explicit(_) => Via::Server,
        ServerSource::Srv { .. } => Via::Dns,
    };
    let found = (via, source.domain());
    provision(s, &state, &http, &fetched, found, device_id.as_deref())
}

/// Steps 7 to 9, from a fetched bundle: whatever found the bundle, the
/// rest of a run is the same.
pub(crate) fn provision(
    s: &Settings,
    state: &State,
    http: &Http,
    fetched: &Fetched,
    (via, domain): (Via, Option<&str>),
    device_id: Option<&str>,
) -> Result<Outcome> {
    let bundle = &fetched.bundle;
    let Some(configurator) = &bundle.configurator else {
        return Err(Error::new(
            Step::Bundle,
            Exit::DataErr,
            format!(
                "the bundle from {} names no configurator; ask your IT admin to add one.",
                fetched.url
            ),
        ));
    };
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

    state.prepare()?;
    let installed = install::package(pkg, &configurator.name, fetched, http, &s.root, state)?;
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

    let handoff = Handoff::new(
        bundle,
        &configurator.command,
        &fetched.server.url,
        &s.root,
        state,
        device_id,
    );
    let receipt = Receipt::new(
        via,
        domain.map(str::to_string),
        fetched.server.url.clone(),
        fetched.url.clone(),
        installed,
        configurator.command.words(),
    );
    // Written last: from here on the device counts as provisioned.
    state.write_receipt(&receipt)?;
    handoff.start(s.no_exec).map(Outcome::Installed)
}

pub(crate) fn expired() -> i32 {
    let e = Error::new(
        Step::Deadline,
        Exit::TempFail,
        "the run did not finish in time (--timeout); check the network and try again.",
    );
    eprintln!("preconf: error: {e}");
    e.code()
}

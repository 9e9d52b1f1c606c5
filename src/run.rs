//! A provisioning run, step by step. Each step is a module; this file only
//! passes plain values from one to the next and says what happened.

use std::path::Path;
use std::time::Duration;

use crate::apt;
use crate::bundle::{self, Install};
use crate::credentials::{Asker, Source as PasswordSource};
use crate::deadline;
use crate::discover::{self, Candidate, Source};
use crate::dns::{self, Dns};
use crate::domain;
use crate::download;
use crate::error::{Error, Exit, Result, Step};
use crate::fetch;
use crate::handoff::Handoff;
use crate::http::{Auth, Http};
use crate::install;
use crate::prompt::{DomainAnswer, Terminal};
use crate::report::say;
use crate::settings::Settings;
use crate::state::{self, Receipt, ReceiptPackage, State};
use crate::tls::{self, Trust};

/// How a run ended, when it did not exec the configurator.
pub enum Outcome {
    /// --no-exec: the command that would have run.
    Installed(String),
    /// A receipt says this device is done.
    AlreadyProvisioned(Box<Receipt>),
}

pub fn run(s: &Settings) -> Result<Outcome> {
    let state = State::new(s.state_dir.clone());
    if !s.force {
        if let Some(r) = state
            .read_receipt()
            .map_err(|e| state_error(&state.dir, &e))?
        {
            return Ok(Outcome::AlreadyProvisioned(Box::new(r)));
        }
    }
    deadline::arm(s.timeout, expired);
    let mut term = Terminal::open().ok();
    let dns = Dns::new(nameservers(s)?, s.io_timeout.min(Duration::from_secs(5)));

    let (source, domain) = server_source(s, &mut term)?;
    let candidates = discover::candidates(&source, &dns)?;
    say(Step::Discover, describe_candidates(&source, &candidates));
    let candidates = guard(candidates, domain.as_deref(), s.assume_yes, &mut term)?;

    let tls = tls::configure(&Trust {
        cas: s.cas.clone(),
        system_roots: s.system_roots,
        client: s.client_cert.clone().zip(s.client_key.clone()),
    })?;
    say(Step::Fetch, &tls.summary);
    let http = Http::new(tls.config, dns, s.io_timeout, identity(s));
    let mut asker = Asker::new(PasswordSource::from_env(), s.user.clone());
    let fetched = fetch::fetch(&http, &candidates, &mut asker, &mut term)?;
    let b = &fetched.bundle;
    let pkg = bundle::choose(&b.configurator, std::env::consts::ARCH).map_err(|why| {
        Error::new(
            Step::Bundle,
            Exit::DataErr,
            format!(
                "the bundle from {}: {why}; ask your IT admin to add one.",
                fetched.url
            ),
        )
    })?;
    say(Step::Bundle, describe_bundle(b, pkg));

    state.prepare().map_err(|e| state_error(&state.dir, &e))?;
    let installed = install_package(s, &state, &http, &fetched, pkg)?;
    let certs = b.certificates.as_deref().unwrap_or_default();
    state
        .write_certs(certs)
        .map_err(|e| state_error(&state.certs(), &e))?;
    state
        .write_bundle(&fetched.raw)
        .map_err(|e| state_error(&state.bundle(), &e))?;
    state.clean_staging();
    say(
        Step::Install,
        format!(
            "bundle and {} certificate(s) stored in {}",
            certs.len(),
            state.dir.display()
        ),
    );

    let handoff = Handoff::new(
        &b.configurator.command,
        &s.root,
        handoff_env(s, &state, &fetched.server, b),
    )
    .ok_or_else(|| {
        Error::new(
            Step::Handoff,
            Exit::DataErr,
            "configurator.command is not an absolute path; ask your IT admin to fix the bundle.",
        )
    })?;
    let (unix_time, time) = state::now();
    let receipt = Receipt {
        format: 1,
        time,
        unix_time,
        domain,
        server: fetched.server.url.to_string(),
        bundle_url: fetched.url.to_string(),
        package: ReceiptPackage {
            name: b.configurator.name.clone(),
            arch: pkg.arch.clone(),
            kind: pkg.kind.clone(),
            url: installed.url,
            sha256: installed.sha256,
            size: installed.size,
        },
        command: b.configurator.command.clone(),
    };
    state
        .write_receipt(&receipt)
        .map_err(|e| state_error(&state.receipt(), &e))?;
    if s.no_exec {
        say(
            Step::Handoff,
            "not starting the configurator (--no-exec); its command is on stdout",
        );
        return Ok(Outcome::Installed(handoff.shell_line()));
    }
    say(Step::Handoff, format!("starting {}", handoff.shell_line()));
    Err(handoff.exec())
}

/// What was installed, for the receipt.
struct Installed {
    url: String,
    sha256: Option<String>,
    size: Option<u64>,
}

/// Steps 7 and 8 for one package: download and verify a file, then place
/// it or give it to dpkg; or have apt-get install it from a repository.
fn install_package(
    s: &Settings,
    state: &State,
    http: &Http,
    fetched: &fetch::Fetched,
    pkg: &bundle::Package,
) -> Result<Installed> {
    let (file, place) = match pkg.install() {
        Install::Apt { name } => {
            let repos = fetched.bundle.repositories.as_deref().unwrap_or_default();
            say(
                Step::Install,
                apt::install(&name, repos, &s.root, &state.dir)?,
            );
            return Ok(Installed {
                url: format!("apt:{name}"),
                sha256: None,
                size: None,
            });
        }
        Install::Exec { file, path } => (file, Some(path)),
        Install::Deb { file } => (file, None),
    };
    let url = fetched.url.join(&file.url).map_err(|e| {
        Error::new(
            Step::Bundle,
            Exit::DataErr,
            format!(
                "the package URL '{}' is unusable ({e}); ask your IT admin to fix the bundle.",
                file.url
            ),
        )
    })?;
    state.clean_staging();
    let auth = Auth::basic(&fetched.url, &fetched.credentials);
    let staged = download::download(http, &url, Some(&auth), &file, &state.staging())?;
    say(
        Step::Download,
        format!(
            "{url} ({} bytes, SHA-256 {} verified)",
            staged.size, staged.sha256
        ),
    );
    let done = match place {
        Some(path) => install::place(&staged, &path, &s.root)?,
        None => install::dpkg(&staged.path, &s.root)?,
    };
    say(Step::Install, done);
    Ok(Installed {
        url: url.to_string(),
        sha256: Some(staged.sha256),
        size: Some(staged.size),
    })
}

fn expired() -> i32 {
    let e = Error::new(
        Step::Deadline,
        Exit::TempFail,
        "the run did not finish in time (--timeout); check the network and try again.",
    );
    eprintln!("preconf: error: {e}");
    e.code()
}

fn state_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        Step::Install,
        Exit::CantCreat,
        format!(
            "cannot write {}: {e}; check --state-dir and free space.",
            path.display()
        ),
    )
}

/// --dns, else the nameservers of resolv.conf.
fn nameservers(s: &Settings) -> Result<Vec<std::net::SocketAddr>> {
    if !s.dns.is_empty() {
        return Ok(s.dns.clone());
    }
    let path = s
        .resolv_conf
        .as_deref()
        .unwrap_or(Path::new(domain::RESOLV_CONF));
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(dns::nameservers_of(&text)),
        // Without a resolv.conf only explicit addresses work; a lookup says so.
        Err(_) if s.resolv_conf.is_none() => Ok(Vec::new()),
        Err(e) => Err(Error::new(
            Step::Settings,
            Exit::NoInput,
            format!("cannot read {}: {e}; check --resolv-conf.", path.display()),
        )),
    }
}

/// Where the server URL comes from: --server, or SRV under the domain
/// learned from DHCP and confirmed by the person.
fn server_source(s: &Settings, term: &mut Option<Terminal>) -> Result<(Source, Option<String>)> {
    if let Some(url) = &s.server {
        say(
            Step::Domain,
            format!("not needed: the server is {url} (--server)"),
        );
        return Ok((Source::Explicit(url.clone()), None));
    }
    let domain = match &s.domain {
        Some(d) => {
            let d = domain::normalize(d).ok_or_else(|| {
                Error::usage(format!(
                    "--domain '{d}' is not a DNS domain such as example.com."
                ))
            })?;
            say(Step::Domain, format!("{d} (--domain)"));
            d
        }
        None => match domain::learn(&s.lease_files, s.resolv_conf.as_deref())? {
            Some(l) => {
                say(Step::Domain, format!("{} (from {})", l.domain, l.source));
                confirm(l.domain, s.assume_yes, term)?
            }
            None => ask_domain(term)?,
        },
    };
    Ok((
        Source::Srv {
            service: s.service.clone(),
            domain: domain.clone(),
        },
        Some(domain),
    ))
}

fn confirm(domain: String, yes: bool, term: &mut Option<Terminal>) -> Result<String> {
    if yes {
        say(Step::Confirm, format!("{domain} (accepted by --yes)"));
        return Ok(domain);
    }
    let t = term.as_mut().ok_or_else(|| {
        Error::new(Step::Confirm, Exit::Usage, format!("no terminal to confirm the domain {domain}; pass --yes to accept it, or --domain NAME."))
    })?;
    let tty = |e: std::io::Error| {
        Error::new(
            Step::Confirm,
            Exit::Usage,
            format!("cannot ask on the terminal: {e}; pass --yes or --domain NAME."),
        )
    };
    let chosen = loop {
        match t.confirm_domain(&domain).map_err(tty)? {
            DomainAnswer::Yes => break domain,
            DomainAnswer::No => break type_domain(t)?,
            DomainAnswer::Other(d) => match domain::normalize(&d) {
                Some(d) => break d,
                None => t
                    .say(&format!("'{d}' is not a domain name such as example.com."))
                    .map_err(tty)?,
            },
        }
    };
    say(Step::Confirm, format!("{chosen} confirmed"));
    Ok(chosen)
}

fn ask_domain(term: &mut Option<Terminal>) -> Result<String> {
    let t = term.as_mut().ok_or_else(|| {
        Error::new(Step::Domain, Exit::Unavailable, "no DNS domain was found in the DHCP leases or resolv.conf; pass --domain NAME (or --server URL).")
    })?;
    t.say("No company domain was learned from the network.")
        .ok();
    let d = type_domain(t)?;
    say(Step::Confirm, format!("{d} typed"));
    Ok(d)
}

fn type_domain(t: &mut Terminal) -> Result<String> {
    loop {
        let typed = t
            .ask("Type your company domain (for example example.com): ")
            .map_err(|e| {
                Error::new(
                    Step::Confirm,
                    Exit::Usage,
                    format!("cannot ask on the terminal: {e}; pass --domain NAME."),
                )
            })?;
        match domain::normalize(&typed) {
            Some(d) => return Ok(d),
            None => t
                .say(&format!(
                    "'{typed}' is not a domain name such as example.com."
                ))
                .ok(),
        };
    }
}

/// Servers outside the confirmed domain get the person's say before any
/// credential goes to them.
fn guard(
    cands: Vec<Candidate>,
    domain: Option<&str>,
    yes: bool,
    term: &mut Option<Terminal>,
) -> Result<Vec<Candidate>> {
    let Some(domain) = domain else {
        return Ok(cands);
    };
    let mut kept = Vec::new();
    for c in cands {
        if domain::is_within(c.host(), domain) {
            kept.push(c);
            continue;
        }
        let host = c.host().to_string();
        if yes {
            say(
                Step::Guard,
                format!("{host} is outside {domain}; accepted by --yes"),
            );
            kept.push(c);
            continue;
        }
        let t = term.as_mut().ok_or_else(|| {
            Error::new(Step::Guard, Exit::NoPerm, format!("the server {host} is outside your domain {domain} and there is no terminal to ask; pass --yes to accept it."))
        })?;
        let ask =
            format!("The configuration server {host} is outside {domain}. Send your login to it?");
        let ok = t.yes_no(&ask, false).map_err(|e| {
            Error::new(
                Step::Guard,
                Exit::NoPerm,
                format!("cannot ask on the terminal: {e}."),
            )
        })?;
        if ok {
            say(Step::Guard, format!("{host} is outside {domain}; accepted"));
            kept.push(c);
        } else {
            say(Step::Guard, format!("{host} is outside {domain}; skipped"));
        }
    }
    if kept.is_empty() {
        return Err(Error::new(
            Step::Guard,
            Exit::NoPerm,
            format!(
                "no server left to try: every one is outside {domain} and was declined; check the domain or ask your IT admin."
            ),
        ));
    }
    Ok(kept)
}

fn describe_candidates(source: &Source, cands: &[Candidate]) -> String {
    let list: Vec<String> = cands
        .iter()
        .map(|c| match c.srv {
            Some((p, w)) => format!("{} (priority {p}, weight {w})", c.url),
            None => c.url.to_string(),
        })
        .collect();
    match source {
        Source::Explicit(_) => format!("server {}", list.join(", ")),
        Source::Srv { service, domain } => {
            format!("SRV {service}.{domain}: {}", list.join(", then "))
        }
    }
}

fn describe_bundle(b: &bundle::Bundle, pkg: &bundle::Package) -> String {
    let who = b
        .user
        .as_ref()
        .and_then(|u| u.name.clone().or(u.login.clone()))
        .unwrap_or_else(|| "this device".into());
    format!(
        "for {who}: configurator {} ({} package for {})",
        b.configurator.name, pkg.kind, pkg.arch
    )
}

/// Headers that tell the server what is asking.
fn identity(s: &Settings) -> Vec<(String, String)> {
    let mut h = vec![
        (
            "X-Preconf-Arch".to_string(),
            std::env::consts::ARCH.to_string(),
        ),
        (
            "X-Preconf-Version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ];
    if let Some(id) = &s.device_id {
        h.push(("X-Preconf-Device-Id".to_string(), id.clone()));
    }
    h
}

fn handoff_env(
    s: &Settings,
    state: &State,
    server: &Candidate,
    b: &bundle::Bundle,
) -> Vec<(&'static str, String)> {
    let device_id = b
        .device
        .as_ref()
        .and_then(|d| d.id.clone())
        .or(s.device_id.clone())
        .unwrap_or_default();
    vec![
        ("PRECONF_BUNDLE", state.bundle().display().to_string()),
        ("PRECONF_DEVICE_ID", device_id),
        (
            "PRECONF_CONFIG_URL",
            b.config_url.clone().unwrap_or_default(),
        ),
        ("PRECONF_SERVER", server.url.to_string()),
        ("PRECONF_CERT_DIR", state.certs().display().to_string()),
        ("PRECONF_ROOT", s.root.display().to_string()),
    ]
}

//! A provisioning run, step by step. Each step is a module; this file only
//! passes plain values from one to the next and says what happened.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::apt;
use crate::bundle::{self, Install};
use crate::confirm;
use crate::credentials::{Asker, Source as PasswordSource};
use crate::deadline;
use crate::discover::{self, Candidate, Source};
use crate::dns::{self, Dns};
use crate::domain;
use crate::download;
use crate::error::{Error, Exit, Result, Step};
use crate::fetch;
use crate::guard;
use crate::handoff::Handoff;
use crate::http::{Auth, Http};
use crate::install;
use crate::prompt::Terminal;
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
    // A power cut may have stopped an earlier run half-way: mend first.
    if state.dir.is_dir() {
        state
            .recover()
            .map_err(|e| state_error(&state.certs(), &e))?;
    }
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
    let (source, domain, lease_dns) = server_source(s, &mut term)?;
    let (servers, from) = nameservers(s, &lease_dns)?;
    if matches!(source, Source::Srv { .. }) {
        let list: Vec<String> = servers.iter().map(ToString::to_string).collect();
        say(
            Step::Discover,
            format!(
                "asking {} (from {from})",
                if list.is_empty() {
                    "no nameserver".into()
                } else {
                    list.join(", ")
                }
            ),
        );
    }
    let dns = Dns::new(servers, s.io_timeout.min(Duration::from_secs(5)));
    let candidates = discover::candidates(&source, &dns)?;
    say(Step::Discover, describe_candidates(&source, &candidates));
    let candidates = guard::check(candidates, domain.as_deref(), s.assume_yes, &mut term)?;

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
    store(&state, &fetched)?;
    let receipt = receipt(domain, &fetched, pkg, installed);
    hand_off(s, &state, &fetched, &receipt)
}

/// The bundle and its certificates, for the configurator: after the
/// package, so a failed install leaves an earlier run's in place.
fn store(state: &State, fetched: &fetch::Fetched) -> Result<()> {
    let certs = fetched.bundle.certificates.as_deref().unwrap_or_default();
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
    Ok(())
}

fn receipt(
    domain: Option<String>,
    fetched: &fetch::Fetched,
    pkg: &bundle::Package,
    installed: Installed,
) -> Receipt {
    let (unix_time, time) = state::now();
    let c = &fetched.bundle.configurator;
    Receipt {
        format: 1,
        time,
        unix_time,
        domain,
        server: fetched.server.url.to_string(),
        bundle_url: fetched.url.to_string(),
        package: ReceiptPackage {
            name: c.name.clone(),
            arch: pkg.arch.clone(),
            kind: pkg.kind.clone(),
            url: installed.url,
            sha256: installed.sha256,
            size: installed.size,
        },
        command: c.command.clone(),
    }
}

/// Step 9: the receipt, written last, then the configurator takes over.
fn hand_off(
    s: &Settings,
    state: &State,
    fetched: &fetch::Fetched,
    receipt: &Receipt,
) -> Result<Outcome> {
    let b = &fetched.bundle;
    let handoff = Handoff::new(
        &b.configurator.command,
        &s.root,
        handoff_env(s, state, &fetched.server, b),
    )
    .ok_or_else(|| {
        Error::new(
            Step::Handoff,
            Exit::DataErr,
            "configurator.command is not an absolute path; ask your IT admin to fix the bundle.",
        )
    })?;
    state
        .write_receipt(receipt)
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

/// --dns, else the nameservers of resolv.conf, else those of the DHCP lease
/// the domain came from; and where they came from, for the step line.
fn nameservers(s: &Settings, lease: &[IpAddr]) -> Result<(Vec<SocketAddr>, String)> {
    if !s.dns.is_empty() {
        return Ok((s.dns.clone(), "--dns".into()));
    }
    let path = s
        .resolv_conf
        .as_deref()
        .unwrap_or(Path::new(domain::RESOLV_CONF));
    let from_resolv = match std::fs::read_to_string(path) {
        Ok(text) => dns::nameservers_of(&text),
        // A device may have no resolv.conf yet; a named one must be there.
        Err(_) if s.resolv_conf.is_none() => Vec::new(),
        Err(e) => {
            return Err(Error::new(
                Step::Settings,
                Exit::NoInput,
                format!("cannot read {}: {e}; check --resolv-conf.", path.display()),
            ));
        }
    };
    if !from_resolv.is_empty() || lease.is_empty() {
        return Ok((from_resolv, path.display().to_string()));
    }
    Ok((
        lease.iter().map(|ip| SocketAddr::new(*ip, 53)).collect(),
        "the DHCP lease".into(),
    ))
}

/// Where the server URL comes from: --server, or SRV under the domain
/// learned from DHCP and confirmed by the person.
fn server_source(
    s: &Settings,
    term: &mut Option<Terminal>,
) -> Result<(Source, Option<String>, Vec<IpAddr>)> {
    if let Some(url) = &s.server {
        say(
            Step::Domain,
            format!("not needed: the server is {url} (--server)"),
        );
        return Ok((Source::Explicit(url.clone()), None, Vec::new()));
    }
    let mut lease_dns = Vec::new();
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
                lease_dns = l.nameservers;
                confirm::learned(l.domain, s.assume_yes, term)?
            }
            None => confirm::ask(term)?,
        },
    };
    let source = Source::Srv {
        service: s.service.clone(),
        domain: domain.clone(),
    };
    Ok((source, Some(domain), lease_dns))
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

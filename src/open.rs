//! `preconf open DOC`: provisioning from a link document, the way a
//! browser hands over a one-time link sent by SMS. The document replaces
//! steps 1 to 5 (domain, discovery, login); from the bundle on, a run is
//! the same as by DNS.
//!
//! Nothing in a document adds trust: its server must verify under the
//! device's own CAs (narrowed further by `ca_sha256`), and the person is
//! shown where the device is about to be provisioned from before any
//! request goes there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::tls::TlsConfig;
use url::Url;

use crate::ask::{Person, Question};
use crate::clock;
use crate::credentials::{Asker, PasswordSource};
use crate::discover::Candidate;
use crate::domain;
use crate::error::{Error, Exit, Result, Step};
use crate::fetch;
use crate::guard;
use crate::link::{self, Link, MAX_SIZE, MEDIA_TYPE};
use crate::net::dns::{self, Dns};
use crate::net::http::{self, Http, HttpFailure};
use crate::net::tls::Tls;
use crate::progress::{self, Event};
use crate::report::say;
use crate::run::{self, DNS_TIMEOUT, Outcome, Start};
use crate::settings::{Settings, Store};
use crate::state::{Via, files};

pub(crate) fn open(s: &Settings, store: &mut Store, doc: &str) -> Result<Outcome> {
    let where_from = Where::parse(doc)?;
    let Start {
        state,
        tls,
        device_id,
    } = match run::start(s)? {
        Ok(start) => start,
        Err(done) => return Ok(done),
    };
    let device_id = device_id.as_deref();
    let nameservers = domain::nameservers(&s.dns, s.resolv_conf.as_deref(), &[])?;
    let dns = Dns::new(nameservers.addrs, s.io_timeout.min(DNS_TIMEOUT));
    // The device's own trust: a link narrows it for its server alone.
    progress::connect(s.prv_log.as_ref(), &tls.config, &dns);

    let link = document(&where_from, &tls, &dns, s.io_timeout)?;
    let domain = company_domain(s.domain.as_deref(), link.domain.as_deref())?;
    let (config, summary) = trust(&link, tls)?;

    let mut person = Person::find();
    consent(&link, domain, s.assume_yes, &mut person)?;
    let candidate = Candidate::explicit(link.url.clone());
    let candidates = guard::check(
        vec![candidate],
        domain,
        s.assume_yes,
        &mut person,
        "Provision this device from it?",
    )?;
    progress::event(Event::DiscoveryComplete, format!("link to {}", link.url));
    say(Step::Fetch, summary);
    let http = Http::new(config, dns, s.io_timeout, device_id);
    let fetched = match &link.token {
        Some(token) => fetch::with_token(&http, &candidates[0], token)?,
        None => {
            let mut asker = Asker::new(PasswordSource::from_env(), s.user.clone());
            fetch::fetch(&http, &candidates, &mut asker, &mut person)?
        }
    };
    same_server(&link, &fetched.url)?;
    let found = run::Found {
        via: Via::Link,
        domain: domain.map(str::to_string),
        chain: None,
    };
    let s = &run::received(s, store, &fetched)?;
    run::provision(s, store, &state, &http, &fetched, found, device_id)
}

/// Reads and checks the document: a link that cannot be used stops here,
/// before any request to the server it names.
fn document(from: &Where, tls: &Tls, dns: &Dns, io_timeout: Duration) -> Result<Link> {
    let raw = match from {
        Where::File(path) => read_file(path)?,
        // Under the device's whole trust (only the document can narrow
        // it), and anonymously: whoever sent the link learns nothing about
        // the device before the person has said yes.
        Where::Https(url) => {
            let http = Http::new(tls.anonymous(), dns.clone(), io_timeout, None);
            download(&http, url)?
        }
    };
    let link = link::parse(&raw).map_err(|why| {
        Error::new(
            Step::Link,
            Exit::DataErr,
            format!("the link document {from} is unusable: {why}; ask your IT department for a new link."),
        )
    })?;
    check_expiry(&link)?;
    say(Step::Link, describe(&link, from));
    Ok(link)
}

/// The device's trust, narrowed to the CA the link names if it names one;
/// and the line that says which.
fn trust(link: &Link, tls: Tls) -> Result<(TlsConfig, String)> {
    let Some(sha) = &link.ca_sha256 else {
        return Ok((tls.config, tls.summary));
    };
    let config = tls.narrowed(sha).ok_or_else(|| not_trusted(sha))?;
    let hex = data_encoding::HEXLOWER.encode(sha);
    Ok((
        config,
        format!("trusting only the CA the link names (SHA-256 {hex})"),
    ))
}

/// Where the document is: what a browser or `xdg-open` passes (`%u`: a
/// `file://` URL, or the https URL itself), or a plain path.
enum Where {
    File(PathBuf),
    Https(Url),
}

impl Where {
    fn parse(doc: &str) -> Result<Where> {
        let Some((scheme, _)) = doc.split_once("://") else {
            return Ok(Where::File(PathBuf::from(doc)));
        };
        let url = Url::parse(doc).map_err(|e| usage(format!("{doc} is not a URL ({e})")))?;
        match scheme.to_ascii_lowercase().as_str() {
            "https" => Ok(Where::Https(url)),
            // file://localhost/p and file:///p only: another host's file
            // is not ours to open.
            "file" => url
                .to_file_path()
                .map(Where::File)
                .map_err(|()| usage(format!("{doc} is not a file on this device"))),
            "http" => Err(usage(format!(
                "{doc} is plain http, which anyone on the way can change; the link must be https"
            ))),
            _ => Err(usage(format!("{doc} is neither a file nor an https URL"))),
        }
    }
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::File(p) => write!(f, "{}", p.display()),
            Where::Https(u) => write!(f, "{u}"),
        }
    }
}

fn usage(what: String) -> Error {
    Error::new(
        Step::Link,
        Exit::Usage,
        format!("{what}; pass the link document as a path, a file:// URL or an https:// URL."),
    )
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let cannot = |e: std::io::Error| {
        Error::new(
            Step::Link,
            Exit::NoInput,
            format!(
                "cannot read the link document {}: {e}; check the path.",
                path.display()
            ),
        )
    };
    let raw = files::read_limited(path, MAX_SIZE + 1).map_err(cannot)?;
    if raw.len() as u64 > MAX_SIZE {
        return Err(too_big(&path.display().to_string()));
    }
    Ok(raw)
}

/// Fetches a document served as a link document, and nothing else.
fn download(http: &Http, url: &Url) -> Result<Vec<u8>> {
    let got = http.get(url, None).map_err(|f| link_failure(f, url))?;
    let served = got
        .response
        .headers()
        .get("content-type")
        .map(|v| printable(v.as_bytes()));
    let media = served
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or_default().trim());
    if !media.is_some_and(|m| m.eq_ignore_ascii_case(MEDIA_TYPE)) {
        let what = served.map_or("no content type".to_string(), |t| {
            format!("content type {t}")
        });
        return Err(Error::new(
            Step::Link,
            Exit::DataErr,
            format!(
                "{} answered with {what}, not {MEDIA_TYPE}: it is not a provisioning link; open the link from your IT department's message.",
                got.url
            ),
        ));
    }
    match got
        .response
        .into_body()
        .with_config()
        .limit(MAX_SIZE)
        .read_to_vec()
    {
        Ok(raw) => Ok(raw),
        Err(ureq::Error::BodyExceedsLimit(_)) => Err(too_big(got.url.as_str())),
        Err(e) => Err(link_failure(
            HttpFailure::Transport {
                url: got.url.clone(),
                why: http::reason(&e),
            },
            url,
        )),
    }
}

fn link_failure(failure: HttpFailure, url: &Url) -> Error {
    if let HttpFailure::Status {
        code: 401 | 410, ..
    } = failure
    {
        return Error::new(
            Step::Link,
            Exit::NoPerm,
            format!(
                "{failure}: this link was already used or has expired; ask your IT department for a new one."
            ),
        );
    }
    let v = failure.verdict();
    let advice = if v.next_server {
        "check the network and open the link again"
    } else {
        "ask your IT department about the link"
    };
    let host = url.host_str().unwrap_or_default();
    Error::new(
        Step::Link,
        v.exit,
        format!("cannot get the link document from {host}: {failure}; {advice}."),
    )
}

fn too_big(what: &str) -> Error {
    Error::new(
        Step::Link,
        Exit::DataErr,
        format!(
            "{what} is larger than {} KiB, which no link document is; open the link from your IT department's message.",
            MAX_SIZE / 1024
        ),
    )
}

/// An expired document is refused before any request goes to its server.
fn check_expiry(link: &Link) -> Result<()> {
    match link.expires {
        Some(t) if t <= clock::unix_now() => Err(Error::new(
            Step::Link,
            Exit::NoPerm,
            format!(
                "this link expired at {}; ask your IT department for a new one.",
                clock::rfc3339(t)
            ),
        )),
        _ => Ok(()),
    }
}

fn describe(link: &Link, from: &Where) -> String {
    let mut d = format!("{} from {from}", link.url);
    if let Some(t) = link.expires {
        d.push_str(&format!(", valid until {}", clock::rfc3339(t)));
    }
    if link.token.is_some() {
        d.push_str(", with a one-time token");
    }
    if link.ca_sha256.is_some() {
        d.push_str(", trusting only the CA it names");
    }
    d
}

fn not_trusted(sha: &[u8; 32]) -> Error {
    Error::new(
        Step::Link,
        Exit::Config,
        format!(
            "the link asks for the CA with SHA-256 {}, which this device does not trust (built in, --ca, --system-roots); a link can narrow trust but never add to it, so ask your IT department.",
            data_encoding::HEXLOWER.encode(sha)
        ),
    )
}

/// A server's words, fit for a terminal: anything but printable ASCII
/// shows as `?`, so no escape sequence or bidi override gets through.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b == b' ' || b.is_ascii_graphic() {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// The domain the guard holds the link's server to: the device's own
/// (`--domain`, a settings file, a factory default) when it has one, which
/// a document may narrow but not leave; else the document's.
fn company_domain<'a>(
    configured: Option<&'a str>,
    named: Option<&'a str>,
) -> Result<Option<&'a str>> {
    match (configured, named) {
        (Some(own), Some(d)) if !dns::is_within(d, own) => Err(Error::new(
            Step::Link,
            Exit::NoPerm,
            format!(
                "the link is for the domain {d}, and this device belongs to {own} (--domain); ask your IT department for a link of {own}."
            ),
        )),
        (_, Some(d)) => Ok(Some(d)),
        (own, None) => Ok(own),
    }
}

/// The bundle must come from the server the person accepted: a redirect
/// elsewhere (an open redirect on the company's host, say) would install
/// what nobody was asked about.
fn same_server(link: &Link, got: &Url) -> Result<()> {
    if got.origin() == link.url.origin() {
        return Ok(());
    }
    let host = link.url.host_str().unwrap_or_default();
    Err(Error::new(
        Step::Fetch,
        Exit::NoPerm,
        format!(
            "{host} redirected the bundle request to {got}, a server you were not asked about; preconf takes a link's bundle only from the server the link names, so ask your IT department."
        ),
    ))
}

/// The person sees where the device is about to be provisioned from, and
/// says yes; the default is no.
fn consent(link: &Link, domain: Option<&str>, yes: bool, person: &mut Person) -> Result<()> {
    let host = link.url.host_str().unwrap_or_default();
    let server = match domain {
        Some(d) => format!("{host} ({d})"),
        None => host.to_string(),
    };
    if yes {
        say(Step::Confirm, format!("{server} (accepted by --yes)"));
        return Ok(());
    }
    let text = format!("Provision this device from {server}?");
    let purpose = format!("confirm provisioning from {server}");
    let q = Question {
        step: Step::Confirm,
        text: &text,
        purpose: &purpose,
        instead: "pass --yes to accept the link",
    };
    if !person.yes_no(&q, false)? {
        return Err(Error::new(
            Step::Confirm,
            Exit::NoPerm,
            format!("provisioning from {server} was declined; nothing was changed."),
        ));
    }
    say(Step::Confirm, format!("{server} accepted"));
    Ok(())
}

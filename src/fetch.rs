//! Step 6: fetch the bundle from the first server that answers, logging in
//! with Basic auth; a refused login is asked again, a dead server is
//! skipped for the next one.
//!
//! Where the login may go afterwards is decided here, once: only to the
//! origin that accepted it (answered 2xx to a request that carried it).

use ureq::http::Response;
use url::Url;

use crate::ask::Person;
use crate::bundle::{self, Bundle};
use crate::credentials::{Asker, Credentials, TRIES};
use crate::discover::Candidate;
use crate::error::{Error, Exit, Result, Step};
use crate::link::Token;
use crate::net::http::{self, Auth, Http, HttpFailure};
use crate::report::say;

/// A bundle is a small JSON document; anything bigger is not one.
const MAX_BUNDLE: u64 = 1024 * 1024;

pub(crate) struct Fetched {
    pub(crate) server: Candidate,
    /// Where the bundle finally came from (after redirects): relative
    /// package URLs are resolved against it.
    pub(crate) url: Url,
    pub(crate) bundle: Bundle,
    pub(crate) raw: Vec<u8>,
    /// The login, bound to the origin that accepted it; none when the
    /// bundle came from another origin (a redirect), which never saw it.
    pub(crate) auth: Option<Auth>,
}

pub(crate) fn fetch(
    http: &Http,
    candidates: &[Candidate],
    asker: &mut Asker,
    person: &mut Person,
) -> Result<Fetched> {
    let first = candidates.first().ok_or_else(no_server)?;
    let mut credentials = asker.ask(first.host(), person)?;
    say(
        Step::Credentials,
        format!(
            "login {} (password from {})",
            credentials.login,
            asker.describe(person)
        ),
    );
    let mut last = None;
    for (i, candidate) in candidates.iter().enumerate() {
        match from_server(http, candidate, &mut credentials, asker, person)? {
            Ok(fetched) => return Ok(fetched),
            Err(failure) => {
                let left = candidates.len() - i - 1;
                if left > 0 {
                    say(
                        Step::Fetch,
                        format!("{failure}; trying the next server ({left} left)"),
                    );
                }
                last = Some(failure);
            }
        }
    }
    Err(last.map_or_else(no_server, |f| none_answered(candidates.len(), f)))
}

/// The bundle from a link's `url`, with its one-time token instead of a
/// login. The token goes to that origin alone and is never sent again:
/// packages are downloaded without it.
pub(crate) fn with_token(http: &Http, candidate: &Candidate, token: &Token) -> Result<Fetched> {
    let url = &candidate.url;
    say(
        Step::Credentials,
        "the link's one-time token (no login asked)",
    );
    let failure = match request(http, candidate, Some(Auth::bearer(url, token.secret())))? {
        // Used once: nothing after the bundle carries it.
        Ok(fetched) => {
            return Ok(Fetched {
                auth: None,
                ..fetched
            });
        }
        Err(f) => f,
    };
    Err(match failure {
        HttpFailure::Status {
            code: 401 | 410,
            url: at,
        } if at.origin() == url.origin() => Error::new(
            Step::Fetch,
            Exit::NoPerm,
            "this link was already used or has expired; ask your IT department for a new one.",
        ),
        HttpFailure::Status { code: 401, url: at } => redirected_to_login(url, &at),
        f if f.verdict().next_server => none_answered(1, f),
        f => fatal(f, url, "this link"),
    })
}

fn no_server() -> Error {
    Error::new(
        Step::Fetch,
        Exit::Unavailable,
        "no server to fetch the bundle from.",
    )
}

/// Asks one server for the bundle; a refused login is asked again. The
/// outer error ends the run; the inner one lets the next server be tried.
fn from_server(
    http: &Http,
    candidate: &Candidate,
    credentials: &mut Credentials,
    asker: &mut Asker,
    person: &mut Person,
) -> Result<Result<Fetched, HttpFailure>> {
    let url = &candidate.url;
    loop {
        let auth = Auth::basic(url, &credentials.login, &credentials.password);
        let failure = match request(http, candidate, Some(auth))? {
            Ok(fetched) => return Ok(Ok(fetched)),
            Err(f) => f,
        };
        if let HttpFailure::Status { code: 401, url: at } = &failure {
            if at.origin() != url.origin() {
                return Err(redirected_to_login(url, at));
            }
            login_refused(url, credentials, asker)?;
            *credentials = asker.ask(url.host_str().unwrap_or_default(), person)?;
            continue;
        }
        if failure.verdict().next_server {
            return Ok(Err(failure));
        }
        return Err(fatal(failure, url, &credentials.login));
    }
}

/// One request for the bundle, carrying `auth`, which the result keeps if
/// the origin that answered accepted it; says where a bundle came from.
/// The outer error ends the run (the answer is not a bundle); the inner
/// one is the request's failure.
fn request(
    http: &Http,
    candidate: &Candidate,
    auth: Option<Auth>,
) -> Result<Result<Fetched, HttpFailure>> {
    let got = match http.get(&candidate.url, auth.as_ref()) {
        Ok(got) => got,
        Err(f) => return Ok(Err(f)),
    };
    let (bundle, raw) = match read_bundle(got.response, &got.url)? {
        Ok(b) => b,
        Err(f) => return Ok(Err(f)),
    };
    say(Step::Fetch, format!("bundle from {}", got.url));
    Ok(Ok(Fetched {
        server: candidate.clone(),
        url: got.url,
        bundle,
        raw,
        auth: auth.filter(|_| got.authenticated),
    }))
}

/// The bundle from a provisioning.reference: asked for without a login,
/// since a provisioning backend may not want one; a 401 from that origin
/// asks for the login as the DNS path does. Over plain http the password
/// is never sent.
pub(crate) fn from_reference(
    http: &Http,
    candidate: &Candidate,
    may_log_in: bool,
    asker: &mut Asker,
    person: &mut Person,
) -> Result<Fetched> {
    let url = &candidate.url;
    let failure = match request(http, candidate, None)? {
        Ok(fetched) => return Ok(fetched),
        Err(f) => f,
    };
    match failure {
        HttpFailure::Status { code: 401, url: at } if at.origin() == url.origin() => {
            if !may_log_in {
                return Err(Error::new(
                    Step::Credentials,
                    Exit::NoPerm,
                    format!(
                        "{url} asks for a login, and preconf logs in only to the server of the first provisioning.reference; ask your IT admin to chain to servers that need none."
                    ),
                ));
            }
            if url.scheme() != "https" {
                return Err(Error::new(
                    Step::Credentials,
                    Exit::NoPerm,
                    format!(
                        "{url} asks for a login, and preconf never sends a password over plain http; ask your IT admin for an https reference."
                    ),
                ));
            }
            fetch(http, std::slice::from_ref(candidate), asker, person)
        }
        HttpFailure::Status { code: 401, url: at } => Err(redirected_to_login(url, &at)),
        f if f.verdict().next_server => Err(none_answered(1, f)),
        f => Err(fatal(f, url, "this device")),
    }
}

/// A bundle from a file (a `file://` provisioning.reference), read as one
/// from a server is.
pub(crate) fn from_file(url: &Url) -> Result<Fetched> {
    let path = url.to_file_path().unwrap_or_default();
    let raw = crate::state::files::read_limited(&path, MAX_BUNDLE + 1).map_err(|e| {
        Error::new(
            Step::Fetch,
            Exit::NoInput,
            format!(
                "cannot read the bundle {}: {e}; check provisioning.reference (preconf props shows where it comes from).",
                path.display()
            ),
        )
    })?;
    if raw.len() as u64 > MAX_BUNDLE {
        return Err(Error::new(
            Step::Bundle,
            Exit::DataErr,
            format!(
                "{} is larger than {} KiB, which is not a bundle; check provisioning.reference.",
                path.display(),
                MAX_BUNDLE / 1024
            ),
        ));
    }
    let bundle = parse_bundle(&raw, url)?;
    say(Step::Fetch, format!("bundle from {}", path.display()));
    Ok(Fetched {
        server: Candidate::explicit(url.clone()),
        url: url.clone(),
        bundle,
        raw,
        auth: None,
    })
}

/// Says the login was refused; an error when no try is left.
fn login_refused(url: &Url, credentials: &Credentials, asker: &Asker) -> Result<()> {
    let login = &credentials.login;
    let host = url.host_str().unwrap_or_default();
    if asker.tries >= TRIES || !asker.source.can_retry() {
        let tries = if asker.tries == 1 {
            "1 try".to_string()
        } else {
            format!("{} tries", asker.tries)
        };
        let whose = if asker.source.can_retry() {
            ""
        } else {
            " in PRECONF_PASSWORD"
        };
        return Err(Error::new(
            Step::Credentials,
            Exit::NoPerm,
            format!(
                "{host} refused the login {login} ({tries}); check the login and password{whose}."
            ),
        ));
    }
    say(
        Step::Credentials,
        format!("{host} refused the login {login}; try again"),
    );
    Ok(())
}

/// A redirect led to another origin that asks for a login: it never gets
/// one, so asking the person again would not help.
fn redirected_to_login(asked: &Url, at: &Url) -> Error {
    let host = asked.host_str().unwrap_or_default();
    Error::new(
        Step::Fetch,
        Exit::NoPerm,
        format!(
            "{host} redirected the bundle request to {at}, which asks for a login; the login goes only to the server it was given for, so ask your IT admin to serve the bundle from {host}."
        ),
    )
}

/// A failure no other server can mend, in words for the fetch step.
fn fatal(failure: HttpFailure, asked: &Url, login: &str) -> Error {
    let exit = failure.verdict().exit;
    let message = match &failure {
        HttpFailure::Status { code: 403, url } if url.origin() == asked.origin() => {
            format!("{url} refused access to {login} (403); ask your IT admin to enable it.")
        }
        HttpFailure::Status { code: 403, url } => format!(
            "{} redirected the bundle request to {url}, which refused access (403); ask your IT admin.",
            asked.host_str().unwrap_or_default()
        ),
        HttpFailure::Status { .. } => {
            format!("{failure}, not a bundle; check the server URL or the TXT path= record.")
        }
        HttpFailure::Refused(_) => {
            format!("{failure}; the server must serve the bundle over https.")
        }
        _ => format!("{failure}."),
    };
    Error::new(Step::Fetch, exit, message)
}

fn none_answered(n: usize, last: HttpFailure) -> Error {
    let exit = last.verdict().exit;
    let (what, advice) = if exit == Exit::Config {
        (
            "could be verified",
            "check --ca and --client-cert, or ask your IT admin",
        )
    } else {
        ("answered", "check the network and try again later")
    };
    Error::new(
        Step::Fetch,
        exit,
        format!("no configuration server {what} ({n} tried; last: {last}); {advice}."),
    )
}

/// The body as a bundle. The outer error ends the run (the server sent
/// something that is not a bundle); the inner one is a broken transfer.
fn read_bundle(
    resp: Response<ureq::Body>,
    url: &Url,
) -> Result<Result<(Bundle, Vec<u8>), HttpFailure>> {
    let raw = match resp
        .into_body()
        .with_config()
        .limit(MAX_BUNDLE)
        .read_to_vec()
    {
        Ok(raw) => raw,
        Err(ureq::Error::BodyExceedsLimit(_)) => {
            return Err(Error::new(
                Step::Bundle,
                Exit::DataErr,
                format!(
                    "{url} sent more than {} KiB, which is not a bundle; check the server URL.",
                    MAX_BUNDLE / 1024
                ),
            ));
        }
        Err(other) => {
            return Ok(Err(HttpFailure::Transport {
                url: url.clone(),
                why: http::reason(&other),
            }));
        }
    };
    let bundle = parse_bundle(&raw, url)?;
    Ok(Ok((bundle, raw)))
}

fn parse_bundle(raw: &[u8], url: &Url) -> Result<Bundle> {
    bundle::parse(raw).map_err(|why| {
        Error::new(
            Step::Bundle,
            Exit::DataErr,
            format!("the bundle from {url} is unusable: {why}; ask your IT admin to fix it."),
        )
    })
}

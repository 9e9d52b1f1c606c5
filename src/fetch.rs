//! Step 6: fetch the bundle from the first server that answers, logging in
//! with Basic auth; a refused login is asked again, a dead server is
//! skipped for the next one.

use crate::bundle::{self, Bundle};
use crate::credentials::{Asker, Credentials, TRIES};
use crate::discover::Candidate;
use crate::error::{Error, Exit, Result, Step};
use crate::http::{self, Auth, Failure, Http};
use crate::prompt::Terminal;
use crate::report::say;
use crate::url::Url;

/// A bundle is a small JSON document; anything bigger is not one.
pub const MAX_BUNDLE: u64 = 1024 * 1024;

pub struct Fetched {
    pub server: Candidate,
    /// Where the bundle finally came from (after redirects): relative
    /// package URLs are resolved against it.
    pub url: Url,
    pub bundle: Bundle,
    pub raw: Vec<u8>,
    pub credentials: Credentials,
}

pub fn fetch(
    http: &Http,
    candidates: &[Candidate],
    asker: &mut Asker,
    term: &mut Option<Terminal>,
) -> Result<Fetched> {
    let first = candidates.first().ok_or_else(|| {
        Error::new(
            Step::Fetch,
            Exit::Unavailable,
            "no server to fetch the bundle from.",
        )
    })?;
    let mut credentials = asker.ask(first.host(), term)?;
    say(
        Step::Credentials,
        format!(
            "login {} (password from {})",
            credentials.login,
            asker.source.describe()
        ),
    );
    let mut last = Tried {
        why: String::new(),
        untrusted: false,
    };
    for (i, candidate) in candidates.iter().enumerate() {
        match from_server(http, candidate, &mut credentials, asker, term)? {
            Answer::Bundle { url, bundle, raw } => {
                say(Step::Fetch, format!("bundle from {url}"));
                return Ok(Fetched {
                    server: candidate.clone(),
                    url,
                    bundle: *bundle,
                    raw,
                    credentials,
                });
            }
            Answer::TryNext(tried) => last = tried,
        }
        let left = candidates.len() - i - 1;
        if left > 0 {
            say(
                Step::Fetch,
                format!("{}; trying the next server ({left} left)", last.why),
            );
        }
    }
    Err(none_answered(candidates.len(), &last))
}

/// What one server gave.
enum Answer {
    Bundle {
        url: Url,
        bundle: Box<Bundle>,
        raw: Vec<u8>,
    },
    /// Why the next server should be tried.
    TryNext(Tried),
}

/// A server that failed in a way another server may not.
struct Tried {
    why: String,
    /// Its TLS could not be verified: a setup problem, not a network one.
    untrusted: bool,
}

impl Tried {
    fn network(why: String) -> Tried {
        Tried {
            why,
            untrusted: false,
        }
    }
}

/// Asks one server for the bundle; a refused login is asked again. An
/// error ends the run.
fn from_server(
    http: &Http,
    candidate: &Candidate,
    credentials: &mut Credentials,
    asker: &mut Asker,
    term: &mut Option<Terminal>,
) -> Result<Answer> {
    let url = &candidate.url;
    loop {
        let failure = match http.get(url, Some(&Auth::basic(url, credentials))) {
            Ok((final_url, resp)) => {
                return match read_bundle(resp, &final_url) {
                    Ok((bundle, raw)) => Ok(Answer::Bundle {
                        url: final_url,
                        bundle: Box::new(bundle),
                        raw,
                    }),
                    Err(Failed::Fatal(e)) => Err(e),
                    Err(Failed::TryNext(why)) => {
                        Ok(Answer::TryNext(Tried::network(format!("{url}: {why}"))))
                    }
                };
            }
            Err(f) => f,
        };
        if let Failure::Status { code: 401, .. } = failure {
            login_refused(url, credentials, asker)?;
            *credentials = asker.ask(&url.host, term)?;
            continue;
        }
        return judge(failure, url, &credentials.login).map(Answer::TryNext);
    }
}

/// Says the login was refused; an error when no try is left.
fn login_refused(url: &Url, credentials: &Credentials, asker: &Asker) -> Result<()> {
    let login = &credentials.login;
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
                "{} refused the login {login} ({tries}); check the login and password{whose}.",
                url.host
            ),
        ));
    }
    say(
        Step::Credentials,
        format!("{} refused the login {login}; try again", url.host),
    );
    Ok(())
}

/// What a failed request (other than 401) means: `Ok` to try the next
/// server, or the error that ends the run.
fn judge(failure: Failure, asked: &Url, login: &str) -> Result<Tried> {
    match failure {
        Failure::Transport(why) => Ok(Tried::network(format!("{asked}: {why}"))),
        Failure::Untrusted(why) => Ok(Tried {
            why: format!("{asked}: {why}"),
            untrusted: true,
        }),
        Failure::Status { code, url, .. } if code >= 500 => {
            Ok(Tried::network(format!("{url}: server error {code}")))
        }
        Failure::Status {
            code: 400,
            url,
            says,
        } if says.contains("SSL certificate") => Err(device_certificate_refused(&url, &says)),
        Failure::Status { code: 403, url, .. } => Err(Error::new(
            Step::Fetch,
            Exit::NoPerm,
            format!(
                "{url} refused access to {login} (403); ask your IT admin to enable this login."
            ),
        )),
        Failure::Status { code, url, .. } => Err(Error::new(
            Step::Fetch,
            Exit::Unavailable,
            format!(
                "{url} answered {code}, not a bundle; check the server URL or the TXT path= record."
            ),
        )),
        Failure::Refused(why) => Err(Error::new(
            Step::Fetch,
            Exit::Unavailable,
            format!("{why}; the server must serve the bundle over https."),
        )),
    }
}

fn none_answered(n: usize, last: &Tried) -> Error {
    let last_failure = &last.why;
    if last.untrusted {
        return Error::new(
            Step::Fetch,
            Exit::Config,
            format!(
                "no configuration server could be verified ({n} tried; last: {last_failure}); check --ca and --client-cert, or ask your IT admin."
            ),
        );
    }
    Error::new(
        Step::Fetch,
        Exit::TempFail,
        format!(
            "no configuration server answered ({n} tried; last: {last_failure}); check the network and try again later."
        ),
    )
}

/// nginx answers a missing or unverifiable client certificate with a 400
/// page rather than a TLS alert; say what it means.
fn device_certificate_refused(url: &Url, says: &str) -> Error {
    let why = if says.contains("No required SSL certificate") {
        "requires a device certificate; pass --client-cert and --client-key"
    } else {
        "did not accept the device certificate; check --client-cert (it must be issued by the CA the server trusts)"
    };
    Error::new(
        Step::Fetch,
        Exit::Config,
        format!("{url} answered 400: it {why}."),
    )
}

enum Failed {
    Fatal(Error),
    TryNext(String),
}

fn read_bundle(
    resp: ureq::http::Response<ureq::Body>,
    url: &Url,
) -> Result<(Bundle, Vec<u8>), Failed> {
    let raw = resp
        .into_body()
        .with_config()
        .limit(MAX_BUNDLE)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => Failed::Fatal(Error::new(
                Step::Bundle,
                Exit::DataErr,
                format!(
                    "{url} sent more than {} KiB, which is not a bundle; check the server URL.",
                    MAX_BUNDLE / 1024
                ),
            )),
            other => Failed::TryNext(http::describe(&other)),
        })?;
    let bundle = bundle::parse(&raw).map_err(|why| {
        Failed::Fatal(Error::new(
            Step::Bundle,
            Exit::DataErr,
            format!("the bundle from {url} is unusable: {why}; ask your IT admin to fix it."),
        ))
    })?;
    Ok((bundle, raw))
}

//! HTTPS requests the way this tool allows them: verified TLS only, names
//! resolved by our own DNS client, timeouts on connect and on every read,
//! redirects followed by hand so that none leads to plain http and
//! credentials never go to another origin. What a failed request means for
//! the run (try the next server? which exit code?) is decided here, once.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use data_encoding::BASE64;
use ureq::config::Config;
use ureq::http::{Response, Uri};
use ureq::tls::TlsConfig;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, Body};
use url::{Origin, Url};

use crate::error::Exit;
use crate::net::dns::Dns;

/// Redirects followed before giving up.
const MAX_REDIRECTS: u32 = 5;

pub(crate) struct Http {
    agent: Agent,
    identity: Vec<(&'static str, String)>,
    /// prm.insecure.http: plain-http URLs are requested too, each with a
    /// warning, and never with credentials.
    plain_http: bool,
}

/// Why a request got no usable response.
#[derive(Debug)]
pub(crate) enum HttpFailure {
    /// The server could not be reached or broke off (connect, TLS, timeout).
    Transport { url: Url, why: String },
    /// TLS verification failed: the server's certificate is not trusted,
    /// or ours was refused.
    Untrusted { url: Url, why: String },
    /// nginx's way to refuse a device certificate: a 400 page, not an alert.
    DeviceCertificate { url: Url, missing: bool },
    /// The server answered with a status other than success.
    Status { code: u16, url: Url },
    /// A URL or redirect this tool will not follow.
    Refused(String),
}

/// What a failure means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Another server (an SRV alternative) may do better.
    pub(crate) next_server: bool,
    /// How the run ends when no server is left to try.
    pub(crate) exit: Exit,
}

impl HttpFailure {
    /// The one classification every step uses.
    pub(crate) fn verdict(&self) -> Verdict {
        let (next_server, exit) = match self {
            HttpFailure::Transport { .. } => (true, Exit::TempFail),
            // Another server may have a certificate we trust; retrying
            // later will not change ours.
            HttpFailure::Untrusted { .. } => (true, Exit::Config),
            HttpFailure::DeviceCertificate { .. } => (false, Exit::Config),
            HttpFailure::Status { code, .. } if *code >= 500 => (true, Exit::TempFail),
            HttpFailure::Status {
                code: 401 | 403, ..
            } => (false, Exit::NoPerm),
            HttpFailure::Status { .. } | HttpFailure::Refused(_) => (false, Exit::Unavailable),
        };
        Verdict { next_server, exit }
    }
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpFailure::Transport { url, why } | HttpFailure::Untrusted { url, why } => {
                write!(f, "{url}: {why}")
            }
            HttpFailure::DeviceCertificate { url, missing: true } => write!(
                f,
                "{url} answered 400: it requires a device certificate; pass --client-cert and --client-key"
            ),
            HttpFailure::DeviceCertificate {
                url,
                missing: false,
            } => write!(
                f,
                "{url} answered 400: it did not accept the device certificate; check --client-cert (it must be issued by the CA the server trusts)"
            ),
            HttpFailure::Status { code, url } if *code >= 500 => {
                write!(f, "{url}: server error {code}")
            }
            HttpFailure::Status { code, url } => write!(f, "{url} answered {code}"),
            HttpFailure::Refused(why) => f.write_str(why),
        }
    }
}

/// Credentials bound to the one origin they may go to: a login (Basic),
/// or a link's one-time token (Bearer). Only the fetch step makes one.
#[derive(Clone)]
pub(crate) struct Auth {
    origin: Origin,
    header: String,
}

impl Auth {
    pub(crate) fn basic(origin: &Url, login: &str, password: &str) -> Auth {
        Auth {
            origin: origin.origin(),
            header: format!(
                "Basic {}",
                BASE64.encode(format!("{login}:{password}").as_bytes())
            ),
        }
    }

    pub(crate) fn bearer(origin: &Url, token: &str) -> Auth {
        Auth {
            origin: origin.origin(),
            header: format!("Bearer {token}"),
        }
    }

    /// Whether these credentials may go to `url`: its origin accepted them.
    pub(crate) fn covers(&self, url: &Url) -> bool {
        self.origin == url.origin()
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// A successful response.
pub(crate) struct Got {
    /// Where it finally came from, after redirects.
    pub(crate) url: Url,
    pub(crate) response: Response<Body>,
    /// The request that got it carried the credentials.
    pub(crate) authenticated: bool,
}

impl Http {
    /// `device_id`: sent with every request, with the architecture and our
    /// version, so the server can pick a bundle per device.
    pub(crate) fn new(
        tls: TlsConfig,
        dns: Dns,
        io_timeout: Duration,
        device_id: Option<&str>,
    ) -> Http {
        Http::build(tls, dns, io_timeout, device_id, false)
    }

    /// An [`Http`] that also requests plain-http URLs, for an http
    /// provisioning.reference with prm.insecure.http: every such request
    /// is warned about, and credentials never go over one.
    pub(crate) fn allowing_plain_http(
        tls: TlsConfig,
        dns: Dns,
        io_timeout: Duration,
        device_id: Option<&str>,
    ) -> Http {
        Http::build(tls, dns, io_timeout, device_id, true)
    }

    fn build(
        tls: TlsConfig,
        dns: Dns,
        io_timeout: Duration,
        device_id: Option<&str>,
        plain_http: bool,
    ) -> Http {
        let config = Config::builder()
            .tls_config(tls)
            .https_only(!plain_http)
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(format!("preconf/{}", env!("CARGO_PKG_VERSION")))
            .timeout_resolve(Some(io_timeout * 2))
            .timeout_connect(Some(io_timeout))
            .timeout_send_request(Some(io_timeout))
            .timeout_recv_response(Some(io_timeout))
            .timeout_per_read(Some(io_timeout))
            .timeout_per_write(Some(io_timeout))
            .max_response_header_size(16 * 1024)
            // Every name is resolved by our DNS client and every connection
            // goes where the URL says: no proxy from the environment.
            .proxy(None)
            // One request at a time to each server; no pool to keep warm.
            .max_idle_connections(1)
            .build();
        let agent = Agent::with_parts(config, DefaultConnector::new(), OurResolver(Arc::new(dns)));
        let mut identity = vec![
            ("X-Preconf-Arch", std::env::consts::ARCH.to_string()),
            ("X-Preconf-Version", env!("CARGO_PKG_VERSION").to_string()),
        ];
        if let Some(id) = device_id {
            identity.push(("X-Preconf-Device-Id", id.to_string()));
        }
        Http {
            agent,
            identity,
            plain_http,
        }
    }

    /// The URL check of this client: [`check_url`], or with plain http
    /// allowed, that check for https URLs and a warning for http ones.
    fn allowed(&self, url: &Url) -> Result<(), String> {
        if self.plain_http && url.scheme() == "http" {
            no_login(url)?;
            eprintln!(
                "preconf: warning: requesting {url} over plain http (prm.insecure.http=true): anyone on the way can read and change it."
            );
            return Ok(());
        }
        check_url(url)
    }

    /// GETs `url`, following same-scheme https redirects. The credentials
    /// are sent only to their own origin.
    pub(crate) fn get(&self, url: &Url, auth: Option<&Auth>) -> Result<Got, HttpFailure> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            self.allowed(&url)
                .map_err(|why| HttpFailure::Refused(format!("refusing {url}: it {why}")))?;
            let mut req = self.agent.get(url.as_str());
            for (k, v) in &self.identity {
                req = req.header(*k, v);
            }
            // Never a login or token over plain http.
            let auth = auth.filter(|a| a.covers(&url) && url.scheme() == "https");
            if let Some(a) = auth {
                req = req.header("Authorization", &a.header);
            }
            let resp = req.call().map_err(|e| match tls_error(&e) {
                Some(tls) => HttpFailure::Untrusted {
                    url: url.clone(),
                    why: describe_tls(tls),
                },
                None => HttpFailure::Transport {
                    url: url.clone(),
                    why: reason(&e),
                },
            })?;
            let code = resp.status().as_u16();
            if (300..400).contains(&code) && code != 304 {
                url = redirect(&url, code, &resp, self.plain_http)?;
                continue;
            }
            if !(200..300).contains(&code) {
                return Err(refusal(url, code, resp));
            }
            return Ok(Got {
                url,
                response: resp,
                authenticated: auth.is_some(),
            });
        }
        Err(HttpFailure::Refused(format!(
            "more than {MAX_REDIRECTS} redirects, last to {url}"
        )))
    }

    /// POSTs `body` to `url` as `content_type`. For reports the device
    /// sends, not documents it takes: no redirect is followed (a report
    /// sent on elsewhere would go where nobody configured) and no
    /// credentials are sent; only a 2xx counts as delivered.
    pub(crate) fn post(
        &self,
        url: &Url,
        content_type: &str,
        body: &[u8],
        whole: Duration,
    ) -> Result<(), HttpFailure> {
        check_url(url).map_err(|why| HttpFailure::Refused(format!("refusing {url}: it {why}")))?;
        // A bound on the whole exchange: the per-read timeout starts anew
        // with every byte a slow server sends.
        let mut req = self
            .agent
            .post(url.as_str())
            .config()
            .timeout_global(Some(whole))
            .build()
            .content_type(content_type);
        for (k, v) in &self.identity {
            req = req.header(*k, v);
        }
        let resp = req.send(body).map_err(|e| HttpFailure::Transport {
            url: url.clone(),
            why: reason(&e),
        })?;
        let code = resp.status().as_u16();
        if !(200..300).contains(&code) {
            return Err(refusal(url.clone(), code, resp));
        }
        // The answer's body is not read: the status said it all, and a
        // server that trickles one gets nothing more from us.
        drop(resp);
        Ok(())
    }
}

/// Where a redirect leads, if this tool may follow it.
fn redirect(
    url: &Url,
    code: u16,
    resp: &Response<Body>,
    plain_http: bool,
) -> Result<Url, HttpFailure> {
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            HttpFailure::Refused(format!("{url} redirected ({code}) without a Location"))
        })?;
    let next = parse_url(Some(url), location).map_err(|e| {
        HttpFailure::Refused(format!(
            "{url} redirected to '{location}', which is not a usable URL ({e})"
        ))
    })?;
    // Plain http may lead on to plain http, never an https URL down to it.
    if plain_http && url.scheme() == "http" && next.scheme() == "http" {
        return Ok(next);
    }
    if next.scheme() != "https" {
        return Err(HttpFailure::Refused(format!(
            "{url} redirected to plain-http {next}; refusing"
        )));
    }
    check_url(&next).map_err(|why| {
        HttpFailure::Refused(format!("{url} redirected to {next}, which {why}; refusing"))
    })?;
    Ok(next)
}

/// Parses `text` as a URL, relative to `base` if given, refusing a host
/// with non-ASCII in it (written so or percent-encoded) before the parser
/// reaches it. The parser would hand such a host to IDNA, whose no-Unicode
/// back end in this binary refuses it anyway, but only after asserting (in
/// debug builds, such as the fuzzer's) that no ASCII capital comes just
/// before it. No URL preconf is handed needs such a host: every URL from
/// outside (a bundle, a redirect, the dictionary, the receipt) is parsed
/// here.
pub(crate) fn parse_url(base: Option<&Url>, text: &str) -> Result<Url, url::ParseError> {
    let parser = || Url::options().base_url(base);
    // The copy has the text's structure, with `%25` for whatever is not
    // ASCII: in a host that is an escaped `%`, which no host may hold, so
    // the copy parses only if the text's host is plain ASCII.
    parser().parse(&non_ascii_as_percent(text))?;
    parser().parse(text)
}

/// `text` with each non-ASCII character and each escape of a non-ASCII
/// byte (`%80` to `%FF`) written `%25`. Tabs and newlines go first, as
/// the URL parser drops them, so `%\tC3` is seen as the escape it is.
fn non_ascii_as_percent(text: &str) -> String {
    let text = text.replace(['\t', '\n', '\r'], "");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        let b = rest.as_bytes();
        let high_escape = c == '%'
            && b.get(1).is_some_and(|h| b"89abcdefABCDEF".contains(h))
            && b.get(2).is_some_and(u8::is_ascii_hexdigit);
        let len = if high_escape { 3 } else { c.len_utf8() };
        if c.is_ascii() && !high_escape {
            out.push(c);
        } else {
            out.push_str("%25");
        }
        rest = &rest[len..];
    }
    out
}

/// The one rule for every URL this tool requests, wherever it came from:
/// https only, and no login or password in it (it would end up in logs
/// and the receipt, and hide where a request really goes).
pub(crate) fn check_url(url: &Url) -> Result<(), String> {
    if url.scheme() != "https" {
        return Err("must be an https:// URL; preconf never fetches over plain http".into());
    }
    no_login(url)
}

fn no_login(url: &Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a login or password".into());
    }
    Ok(())
}

/// A status other than success; nginx explains a refused device
/// certificate in the body of a 400, so the start of it is read.
fn refusal(url: Url, code: u16, resp: Response<Body>) -> HttpFailure {
    let mut says = Vec::new();
    let _ = resp
        .into_body()
        .into_reader()
        .take(512)
        .read_to_end(&mut says);
    let says = String::from_utf8_lossy(&says);
    if code == 400 && says.contains("SSL certificate") {
        return HttpFailure::DeviceCertificate {
            url,
            missing: says.contains("No required SSL certificate"),
        };
    }
    HttpFailure::Status { code, url }
}

/// A short reason for a failed request, in words a person can act on.
pub(crate) fn reason(e: &ureq::Error) -> String {
    if let Some(tls) = tls_error(e) {
        return describe_tls(tls);
    }
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(io) => io_reason(io),
        other => other.to_string(),
    }
}

/// The TLS error inside a ureq error, where ureq passed it on directly or
/// wrapped in an io::Error.
fn tls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    }
}

pub(crate) fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection early".into(),
        _ => e.to_string(),
    }
}

fn describe_tls(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match e {
        E::InvalidCertificate(C::UnknownIssuer) => {
            "TLS: the server's certificate is not signed by a trusted CA (check --ca)".into()
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "TLS: the server's certificate is for another name".into()
        }
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "TLS: the server's certificate has expired".into()
        }
        E::AlertReceived(
            A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::HandshakeFailure,
        ) => "TLS: the server refused the device certificate (check --client-cert)".into(),
        other => format!("TLS: {other}"),
    }
}

/// Resolves every host name with our DNS client, so lookups go only to the
/// nameservers the settings name. `localhost` is loopback (RFC 6761).
#[derive(Debug)]
struct OurResolver(Arc<Dns>);

impl Resolver for OurResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _: &Config,
        _: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // Plain http only with prm.insecure.http; its port is 80.
        let default = if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        };
        let port = uri.port_u16().unwrap_or(default);
        let ips: Vec<IpAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
            vec![ip]
        } else if host.eq_ignore_ascii_case("localhost") {
            vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
        } else {
            self.0.addresses(host).map_err(|f| {
                ureq::Error::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("cannot resolve {host}: {f}"),
                ))
            })?
        };
        let mut out = self.empty();
        for ip in ips.into_iter().take(16) {
            out.push(SocketAddr::new(ip, port));
        }
        if out.is_empty() {
            return Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot resolve {host}: it has no A or AAAA record"),
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://cfg.example.com/bundle").unwrap()
    }

    /// Every kind of failure and what it means, as the README's exit code
    /// table says: 75 temporary, 77 refused, 78 configuration, 69 not there.
    #[test]
    fn every_failure_has_one_meaning() {
        let cases = [
            (
                HttpFailure::Transport {
                    url: url(),
                    why: "timed out".into(),
                },
                true,
                75,
            ),
            (
                HttpFailure::Untrusted {
                    url: url(),
                    why: "TLS".into(),
                },
                true,
                78,
            ),
            (
                HttpFailure::DeviceCertificate {
                    url: url(),
                    missing: true,
                },
                false,
                78,
            ),
            (
                HttpFailure::Status {
                    code: 503,
                    url: url(),
                },
                true,
                75,
            ),
            (
                HttpFailure::Status {
                    code: 500,
                    url: url(),
                },
                true,
                75,
            ),
            (
                HttpFailure::Status {
                    code: 401,
                    url: url(),
                },
                false,
                77,
            ),
            (
                HttpFailure::Status {
                    code: 403,
                    url: url(),
                },
                false,
                77,
            ),
            (
                HttpFailure::Status {
                    code: 404,
                    url: url(),
                },
                false,
                69,
            ),
            (
                HttpFailure::Status {
                    code: 410,
                    url: url(),
                },
                false,
                69,
            ),
            (HttpFailure::Refused("plain http".into()), false, 69),
        ];
        for (failure, next_server, code) in cases {
            let v = failure.verdict();
            assert_eq!(
                (v.next_server, v.exit as i32),
                (next_server, code),
                "{failure:?}"
            );
        }
    }

    #[test]
    fn basic_auth_goes_to_its_origin_only() {
        let a = Auth::basic(&url(), "jdoe", "pw");
        assert_eq!(a.header, "Basic amRvZTpwdw==");
        assert!(
            a.origin
                == Url::parse("https://cfg.example.com:443/other")
                    .unwrap()
                    .origin()
        );
        assert!(
            a.origin
                != Url::parse("https://cfg.example.com:8443/")
                    .unwrap()
                    .origin()
        );
        assert!(!format!("{a:?}").contains("amRvZTpwdw"));
        assert!(a.covers(&Url::parse("https://CFG.example.com/x").unwrap()));
    }

    #[test]
    fn only_plain_https_urls() {
        let check = |u: &str| check_url(&Url::parse(u).unwrap());
        assert!(check("https://cfg.example.com/b").is_ok());
        assert!(check("http://cfg.example.com/b").is_err());
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("https://cfg.example.com@evil.example/b").is_err());
        assert!(check("https://u:p@cfg.example.com/b").is_err());
    }
}

//! HTTPS requests the way this tool allows them: verified TLS only, names
//! resolved by our own DNS client, timeouts on connect and on every read,
//! redirects followed by hand so that none leads to plain http and
//! credentials never go to another origin.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ureq::config::Config;
use ureq::http::{Response, Uri};
use ureq::tls::TlsConfig;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, Body};

use crate::credentials::Credentials;
use crate::dns::Dns;
use crate::url::Url;

/// Redirects followed before giving up.
const MAX_REDIRECTS: u32 = 5;

pub struct Http {
    agent: Agent,
    identity: Vec<(String, String)>,
}

/// Why a request got no usable response.
#[derive(Debug)]
pub enum Failure {
    /// The server could not be reached or broke off (connect, TLS, timeout):
    /// another server may do better.
    Transport(String),
    /// TLS verification failed: the server's certificate is not trusted,
    /// or ours was refused. Another server may do better, but retrying
    /// later will not.
    Untrusted(String),
    /// The server answered with a status other than success.
    Status {
        code: u16,
        url: Url,
        /// The start of the response body, for servers that explain there.
        says: String,
    },
    /// A redirect this tool will not follow.
    Refused(String),
}

/// Basic credentials bound to the origin they are meant for.
pub struct Auth {
    origin: Url,
    header: String,
}

impl Auth {
    pub fn basic(origin: &Url, c: &Credentials) -> Auth {
        let token = base64(format!("{}:{}", c.login, c.password).as_bytes());
        Auth {
            origin: origin.clone(),
            header: format!("Basic {token}"),
        }
    }
}

impl Http {
    /// `identity`: headers describing the device, sent with every request.
    pub fn new(
        tls: TlsConfig,
        dns: Dns,
        io_timeout: Duration,
        identity: Vec<(String, String)>,
    ) -> Http {
        let config = Config::builder()
            .tls_config(tls)
            .https_only(true)
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
            // One request at a time to each server; no pool to keep warm.
            .max_idle_connections(1)
            .build();
        let agent = Agent::with_parts(config, DefaultConnector::new(), OurResolver(Arc::new(dns)));
        Http { agent, identity }
    }

    /// GETs `url`, following same-scheme https redirects. The credentials
    /// are sent only to their own origin. Returns the final URL and the
    /// successful response.
    pub fn get(&self, url: &Url, auth: Option<&Auth>) -> Result<(Url, Response<Body>), Failure> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            if url.scheme != "https" {
                return Err(Failure::Refused(format!("refusing plain-http URL {url}")));
            }
            let mut req = self.agent.get(url.to_string());
            for (k, v) in &self.identity {
                req = req.header(k, v);
            }
            if let Some(a) = auth.filter(|a| a.origin.same_origin(&url)) {
                req = req.header("Authorization", &a.header);
            }
            let resp = req.call().map_err(|e| match tls_error(&e) {
                Some(tls) => Failure::Untrusted(describe_tls(tls)),
                None => Failure::Transport(describe(&e)),
            })?;
            let code = resp.status().as_u16();
            if (300..400).contains(&code) && code != 304 {
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Failure::Refused(format!("{url} redirected ({code}) without a Location"))
                    })?;
                let next = url.join(location).map_err(|e| {
                    Failure::Refused(format!(
                        "{url} redirected to '{location}', which is not a usable URL ({e})"
                    ))
                })?;
                if next.scheme != "https" {
                    return Err(Failure::Refused(format!(
                        "{url} redirected to plain-http {next}; refusing"
                    )));
                }
                url = next;
                continue;
            }
            if !(200..300).contains(&code) {
                let mut says = Vec::new();
                let _ = resp
                    .into_body()
                    .into_reader()
                    .take(512)
                    .read_to_end(&mut says);
                let says = String::from_utf8_lossy(&says).into_owned();
                return Err(Failure::Status { code, url, says });
            }
            return Ok((url, resp));
        }
        Err(Failure::Refused(format!(
            "more than {MAX_REDIRECTS} redirects, last to {url}"
        )))
    }
}

/// A short reason for a failed request, in words a person can act on.
pub fn describe(e: &ureq::Error) -> String {
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

pub fn io_reason(e: &io::Error) -> String {
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
        let port = uri.port_u16().unwrap_or(443);
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

/// Standard base64 with padding, for the Basic auth header: eight lines
/// here rather than a crate for one use.
pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}

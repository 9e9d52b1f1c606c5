//! A small stub resolver: one question, one answer, over UDP (TCP when the
//! answer is truncated), to the nameservers the settings name.
//!
//! Written over hickory-proto's message codec rather than hickory-resolver
//! because the resolver is async and would bring a tokio runtime into a
//! binary that asks a handful of questions in sequence; and never libc's
//! getaddrinfo, because a static binary must not depend on NSS.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// Why a name has no answer.
#[derive(Debug)]
pub(crate) enum LookupFailure {
    /// The name does not exist (NXDOMAIN), said by `server`.
    NoSuchName { server: SocketAddr },
    /// No nameserver gave a usable answer; the last problem, per server.
    Unreachable(Vec<(SocketAddr, String)>),
    /// The name is not valid DNS.
    BadName(String),
    /// There is no nameserver to ask.
    NoNameserver,
}

impl fmt::Display for LookupFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupFailure::NoSuchName { server } => {
                write!(f, "no such name (NXDOMAIN from {server})")
            }
            LookupFailure::Unreachable(why) => {
                let parts: Vec<String> = why.iter().map(|(s, e)| format!("{s}: {e}")).collect();
                write!(f, "no nameserver answered ({})", parts.join("; "))
            }
            LookupFailure::BadName(e) => write!(f, "not a valid DNS name ({e})"),
            LookupFailure::NoNameserver => write!(
                f,
                "no nameserver is configured (resolv.conf names none; pass --dns IP)"
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Dns {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

/// Tries per server before moving on: UDP loses packets.
const ATTEMPTS: u32 = 2;

impl Dns {
    pub(crate) fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Dns {
        Dns { servers, timeout }
    }

    /// The answer records of `rtype` for `name` (following CNAMEs the server
    /// included). An existing name without such records gives an empty list.
    pub(crate) fn query(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, LookupFailure> {
        let qname = Name::from_ascii(name).map_err(|e| LookupFailure::BadName(e.to_string()))?;
        if self.servers.is_empty() {
            return Err(LookupFailure::NoNameserver);
        }
        let mut problems = Vec::new();
        for &server in &self.servers {
            for _ in 0..ATTEMPTS {
                match self.exchange(server, &qname, rtype) {
                    Ok(m) => match m.response_code() {
                        ResponseCode::NoError => {
                            return Ok(m
                                .answers()
                                .iter()
                                .filter(|r| r.record_type() == rtype)
                                .map(|r| r.data().clone())
                                .collect());
                        }
                        ResponseCode::NXDomain => return Err(LookupFailure::NoSuchName { server }),
                        // SERVFAIL, REFUSED, …: this server will not help; try the next.
                        code => {
                            problems.push((server, format!("answered {code}")));
                            break;
                        }
                    },
                    Err(e) => problems.push((server, e.to_string())),
                }
            }
        }
        problems.dedup_by(|a, b| a.0 == b.0);
        Err(LookupFailure::Unreachable(problems))
    }

    /// The IPv4 and IPv6 addresses of `host`, IPv4 first.
    pub(crate) fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, LookupFailure> {
        let v4 = self.query(host, RecordType::A);
        let v6 = self.query(host, RecordType::AAAA);
        let mut out = Vec::new();
        for rdata in v4.iter().flatten().chain(v6.iter().flatten()) {
            match rdata {
                RData::A(a) => out.push(IpAddr::V4(a.0)),
                RData::AAAA(a) => out.push(IpAddr::V6(a.0)),
                _ => {}
            }
        }
        if out.is_empty() {
            // Report the A lookup's failure: it says NXDOMAIN or unreachable.
            v4?;
            v6?;
        }
        Ok(out)
    }

    fn exchange(&self, server: SocketAddr, name: &Name, rtype: RecordType) -> io::Result<Message> {
        let id = random_id();
        let request = request(id, name, rtype)
            .to_vec()
            .map_err(io::Error::other)?;
        let reply = self.exchange_udp(server, id, &request)?;
        if reply.truncated() {
            return self.exchange_tcp(server, id, &request);
        }
        Ok(reply)
    }

    fn exchange_udp(&self, server: SocketAddr, id: u16, request: &[u8]) -> io::Result<Message> {
        let any: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(any)?;
        // A connected socket only receives datagrams from the server asked.
        sock.connect(server)?;
        sock.set_read_timeout(Some(self.timeout))?;
        sock.send(request)?;
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.recv(&mut buf).map_err(timeout_as_such)?;
            // Ignore stray or forged datagrams; keep waiting until the timeout.
            if let Some(m) = matching_reply(&buf[..n], id) {
                return Ok(m);
            }
        }
    }

    fn exchange_tcp(&self, server: SocketAddr, id: u16, request: &[u8]) -> io::Result<Message> {
        let mut s = TcpStream::connect_timeout(&server, self.timeout)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        let mut framed = (request.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(request);
        s.write_all(&framed)?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).map_err(timeout_as_such)?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).map_err(timeout_as_such)?;
        matching_reply(&buf, id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed answer over TCP"))
    }
}

fn request(id: u16, name: &Name, rtype: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    m.set_edns(edns);
    m
}

fn matching_reply(bytes: &[u8], id: u16) -> Option<Message> {
    let m = Message::from_vec(bytes).ok()?;
    (m.id() == id && m.message_type() == MessageType::Response).then_some(m)
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // Without randomness a spoofer could guess the id; fail closed to a
    // fixed value only if the kernel cannot give us any, which getrandom
    // reports as an error on systems that are unusable anyway.
    getrandom::fill(&mut b).expect("the kernel's random source is unavailable");
    u16::from_ne_bytes(b)
}

fn timeout_as_such(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            io::Error::new(io::ErrorKind::TimedOut, "timed out")
        }
        _ => e,
    }
}

/// Lower-cases, drops a trailing dot, and rejects what is not a host name
/// of at least two labels.
pub(crate) fn domain_name(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let labels: Vec<&str> = name.split('.').collect();
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| ok_label(l)) {
        return None;
    }
    Some(name)
}

/// True when `host` is `domain` or a name below it.
pub(crate) fn is_within(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips() {
        let name = Name::from_ascii("_maemo_autoconf._tcp.example.test.").unwrap();
        let bytes = request(7, &name, RecordType::SRV).to_vec().unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.id(), 7);
        assert_eq!(m.queries()[0].query_type(), RecordType::SRV);
        assert!(
            matching_reply(&bytes, 7).is_none(),
            "a query is not a reply"
        );
    }

    #[test]
    fn rejects_non_domains() {
        assert_eq!(domain_name("localdomain"), None);
        assert_eq!(domain_name("a..b"), None);
        assert_eq!(domain_name("bad name.example"), None);
        assert_eq!(domain_name("ok-1.example."), Some("ok-1.example".into()));
    }

    #[test]
    fn within() {
        assert!(is_within("cfg.example.com.", "example.com"));
        assert!(is_within("EXAMPLE.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com"));
        assert!(!is_within("cfg.other.net", "example.com"));
    }
}

//! A tiny authoritative DNS server on loopback for the tests: answers
//! A, AAAA, SRV and TXT from a fixed zone, NXDOMAIN for unknown names.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

#[derive(Default, Clone)]
pub struct Zone {
    records: HashMap<String, Vec<RData>>,
    /// Answer every UDP question with an empty, truncated reply, so the
    /// client must ask again over TCP.
    truncate_udp: bool,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    fn add(mut self, name: &str, r: RData) -> Zone {
        self.records.entry(key(name)).or_default().push(r);
        self
    }

    pub fn a(self, name: &str, ip: Ipv4Addr) -> Zone {
        self.add(name, RData::A(A(ip)))
    }

    pub fn aaaa(self, name: &str, ip: std::net::Ipv6Addr) -> Zone {
        self.add(name, RData::AAAA(hickory_proto::rr::rdata::AAAA(ip)))
    }

    pub fn truncate_udp(mut self) -> Zone {
        self.truncate_udp = true;
        self
    }

    /// `target` "." is the RFC 2782 "no service here".
    pub fn srv(self, name: &str, priority: u16, weight: u16, port: u16, target: &str) -> Zone {
        let t = if target == "." {
            Name::root()
        } else {
            Name::from_ascii(format!("{target}.")).unwrap()
        };
        self.add(name, RData::SRV(SRV::new(priority, weight, port, t)))
    }

    pub fn txt(self, name: &str, text: &str) -> Zone {
        self.add(name, RData::TXT(TXT::new(vec![text.to_string()])))
    }

    /// A name that exists but has no records of the asked type.
    pub fn empty(self, name: &str) -> Zone {
        let mut z = self;
        z.records.entry(key(name)).or_default();
        z
    }
}

pub struct DnsServer {
    pub addr: SocketAddr,
    /// Questions received, over UDP and over TCP.
    pub queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// On 127.0.0.1, at a port the kernel picks that is free for both UDP
    /// and TCP: what the tests give preconf with `--dns`.
    pub fn start(zone: Zone) -> DnsServer {
        DnsServer::start_on(zone, Ipv4Addr::LOCALHOST.into())
    }

    /// On another loopback address (::1, say), at a port of the kernel's pick.
    pub fn start_on(zone: Zone, ip: IpAddr) -> DnsServer {
        DnsServer::start_at(zone, (ip, 0).into())
    }

    /// On port 53 of a loopback address of its own, 127.53.x.y at random (so
    /// no real resolver sits there), for tests of resolv.conf, which cannot
    /// name a port. Needs root.
    #[track_caller]
    pub fn start_port_53(zone: Zone) -> DnsServer {
        crate::need_root(
            "it binds port 53 on a loopback address, as resolv.conf cannot name a port",
        );
        let mut b = [0u8; 2];
        getrandom::fill(&mut b).unwrap();
        let ip = Ipv4Addr::new(127, 53, b[0], b[1].max(1));
        DnsServer::start_at(zone, (ip, 53).into())
    }

    fn start_at(zone: Zone, addr: SocketAddr) -> DnsServer {
        let (sock, tcp) = bind_both(addr);
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        tcp.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let (s, q, tq, z) = (
            stop.clone(),
            queries.clone(),
            tcp_queries.clone(),
            zone.clone(),
        );
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match tcp.accept() {
                    Ok((conn, _)) => {
                        tq.fetch_add(1, Ordering::SeqCst);
                        let _ = serve_tcp(conn, &z);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        let (s, q2) = (stop.clone(), q);
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                q2.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = answer(&zone, &buf[..n], zone.truncate_udp) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        DnsServer {
            addr,
            queries,
            tcp_queries,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same port (TCP serves answers too
/// big for a datagram). With port 0, the kernel's UDP pick may be taken for
/// TCP by another test's server: then pick again.
fn bind_both(addr: SocketAddr) -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind(addr)
            .unwrap_or_else(|e| panic!("cannot bind the test DNS server to {addr}: {e}"));
        match TcpListener::bind(udp.local_addr().unwrap()) {
            Ok(tcp) => return (udp, tcp),
            Err(e) if addr.port() != 0 => {
                panic!("cannot bind the test DNS server to TCP {addr}: {e}")
            }
            Err(_) => continue,
        }
    }
    panic!("no port free for both UDP and TCP on {}", addr.ip());
}

/// One question over TCP: two length bytes, then the message, each way.
fn serve_tcp(mut conn: TcpStream, zone: &Zone) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut msg)?;
    if let Some(reply) = answer(zone, &msg, false) {
        conn.write_all(&(reply.len() as u16).to_be_bytes())?;
        conn.write_all(&reply)?;
    }
    Ok(())
}

fn answer(zone: &Zone, bytes: &[u8], truncated: bool) -> Option<Vec<u8>> {
    let q = Message::from_vec(bytes).ok()?;
    let query = q.queries().first()?.clone();
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_authoritative(true)
        .add_query(query.clone());
    if truncated {
        r.set_truncated(true);
        return r.to_vec().ok();
    }
    let name = query.name().to_ascii();
    match zone.records.get(&key(&name)) {
        None => {
            r.set_response_code(ResponseCode::NXDomain);
        }
        Some(rs) => {
            for rd in rs.iter().filter(|rd| {
                rd.record_type() == query.query_type() || query.query_type() == RecordType::ANY
            }) {
                r.add_answer(Record::from_rdata(query.name().clone(), 60, rd.clone()));
            }
        }
    }
    r.to_vec().ok()
}

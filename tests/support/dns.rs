//! A tiny authoritative DNS server on 127.0.0.1 for the tests: answers
//! A, AAAA, SRV and TXT from a fixed zone, NXDOMAIN for unknown names.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
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
    pub queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Zone) -> DnsServer {
        DnsServer::start_at(zone, "127.0.0.1:0".parse().unwrap())
    }

    /// On a fixed address: port 53 of an otherwise unused loopback address,
    /// for tests of resolv.conf, which cannot name a port.
    pub fn start_at(zone: Zone, addr: SocketAddr) -> DnsServer {
        let sock = UdpSocket::bind(addr).unwrap_or_else(|e| {
            panic!("cannot bind the test DNS server to {addr}: {e} (binding port 53 needs root)")
        });
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let (s, q) = (stop.clone(), queries.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = answer(&zone, &buf[..n]) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        DnsServer {
            addr,
            queries,
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

fn answer(zone: &Zone, bytes: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(bytes).ok()?;
    let query = q.queries().first()?.clone();
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_authoritative(true)
        .add_query(query.clone());
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

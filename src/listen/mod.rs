//! `preconf listen`: backend-initiated provisioning. A backend finds the
//! device by multicast (`discovery`), pushes properties to `/rminit`
//! (`push`, over `request`, with `auth`), and the device provisions itself
//! from the reference it was given: in this process, one run at a time,
//! while the endpoint goes on answering (`409` to a push meanwhile).
//!
//! Safe to leave running at a customer's site by default: HTTPS only, a
//! login checked against a slow salted hash, every request bounded in
//! size and time, and a real status code for every answer.

pub(crate) mod auth;
pub(crate) mod discovery;
pub(crate) mod push;
pub(crate) mod request;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use push::{Device, Endpoint, Shared};
use request::{Bounded, Failed, ReadWrite};

use crate::error::{Error, Exit, Result, Step};
use crate::report::say;
use crate::run::{self, Outcome};
use crate::settings::{self, Key, Layer, Provider, Settings};

/// Connections served at once, and from one address: a flood of idle
/// clients fills these for [`request::CONNECTION_TIME`] at most.
const MAX_CONNECTIONS: usize = 64;
const MAX_PER_ADDRESS: usize = 8;
/// How long a closed connection's last bytes are read and thrown away.
const LINGER: Duration = Duration::from_secs(1);

/// Serves the push endpoint until a pushed run ends (its outcome is the
/// listener's), or for ever with `prm.listen.after.run` or
/// `prm.reprovision.onstart`.
pub(crate) fn listen(command_line: Layer) -> Result<Outcome> {
    let mut device = Device::load(&command_line)?;
    let s = &device.settings;
    let endpoint = endpoint(s)?;
    let tls = if s.listen.secure {
        Some(tls_config(s)?)
    } else {
        say(
            Step::Listen,
            "warning: serving plain http (prm.http.provider.secure=false): anyone on the way can read the pushed properties and the login",
        );
        None
    };
    let at = SocketAddr::new(s.listen.address, s.listen.port);
    let listener = TcpListener::bind(at).map_err(|e| {
        Error::new(
            Step::Listen,
            Exit::Unavailable,
            format!(
                "cannot listen on {at}: {e}; stop what uses the port, or set another prm.http.provider.port."
            ),
        )
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Busy before the first connection is taken, when resuming.
    let resume = pushed_reference(&device);
    device.running = resume;
    let (runs, requests) = mpsc::channel();
    let shared = Arc::new(Shared {
        endpoint,
        failures: Mutex::default(),
        hashing: Mutex::default(),
        device: Mutex::new(device),
        runs,
        command_line,
    });
    let acceptor = Arc::clone(&shared);
    std::thread::spawn(move || accept(listener, tls, &acceptor));
    answer_probes(&shared, scheme)?;
    say(
        Step::Listen,
        format!("listening for pushes on {scheme}://{at}/rminit"),
    );
    if resume {
        say(
            Step::Listen,
            "provisioning from the provisioning.reference pushed before the restart",
        );
    } else {
        requests.recv().expect("the sender lives in `shared`");
    }
    loop {
        let (outcome, keep) = provision(&shared.command_line);
        if !keep {
            return outcome;
        }
        match &outcome {
            Ok(_) => say(Step::Listen, "the run has ended; listening on"),
            Err(e) => say(Step::Listen, format!("the run failed ({e}); listening on")),
        }
        *shared.device.lock().expect("not poisoned") = Device::load(&shared.command_line)?;
        requests.recv().expect("the sender lives in `shared`");
    }
}

/// Answers discovery probes (`mbs.multicast.*`, port 0 is off) with the
/// device as it is at each probe: its identity, the push endpoint, and
/// whether it has a receipt.
fn answer_probes(shared: &Arc<Shared>, scheme: &'static str) -> Result<()> {
    let (group, port, push_port, address) = {
        let d = shared.device.lock().expect("not poisoned");
        let l = &d.settings.listen;
        (l.group, l.group_port, l.port, l.address)
    };
    let host = (!address.is_unspecified()).then_some(address);
    let shared = Arc::clone(shared);
    let answer = move || {
        // A thread that panicked holding the lock must not end discovery.
        let d = shared
            .device
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        discovery::Answer {
            spid: d.spid.clone(),
            scheme,
            port: push_port,
            provisioned: d.provisioned,
            host,
        }
    };
    discovery::spawn(group, port, Box::new(answer)).map_err(|e| {
        Error::new(
            Step::Listen,
            Exit::Unavailable,
            format!(
                "cannot listen for discovery probes on UDP port {port}: {e}; stop what uses the port, or set another mbs.multicast.port (0 turns discovery off)."
            ),
        )
    })
}

/// Who may push; refuses to start without a password unless told that
/// anyone may.
fn endpoint(s: &Settings) -> Result<Endpoint> {
    if !s.listen.allowed {
        return Err(Error::new(
            Step::Listen,
            Exit::Config,
            "prm.http.provider.allowed is false, so there is nothing to listen for; set it to true to accept pushes.",
        ));
    }
    if s.listen.require_auth && s.listen.password.is_none() {
        return Err(Error::new(
            Step::Listen,
            Exit::Config,
            "no push password is set; set one with preconf props set-push-password (the login is prm.push.user).",
        ));
    }
    if !s.listen.require_auth {
        say(
            Step::Listen,
            "warning: prm.require.auth=false: anyone who reaches the port can provision this device",
        );
    }
    Ok(Endpoint {
        require_auth: s.listen.require_auth,
        user: s.listen.user.clone(),
        password: s.listen.password.clone(),
    })
}

fn tls_config(s: &Settings) -> Result<Arc<rustls::ServerConfig>> {
    let Some((cert, key)) = s.listen_identity() else {
        return Err(Error::new(
            Step::Listen,
            Exit::Config,
            "the push endpoint serves HTTPS only, and has no certificate; set prm.http.provider.cert and prm.http.provider.key (or --client-cert and --client-key), or prm.http.provider.secure=false.",
        ));
    };
    crate::net::tls::server(&cert, &key)
}

/// Whether a push left the reference of the dictionary, and a run from it
/// was under way when the device stopped (a power cut): it is resumed. A
/// run that ended, in failure too, is not tried again until a new push.
fn pushed_reference(device: &Device) -> bool {
    let pushed = matches!(
        device.store.dictionary().provider(Key::Reference),
        Some(Provider::Push { .. })
    );
    pushed
        && push::interrupted(&device.settings.state_dir())
        && matches!(device.state().receipt(), Ok(None))
}

/// One run from the dictionary as the push left it; whether to listen on.
fn provision(command_line: &Layer) -> (Result<Outcome>, bool) {
    let settings::Loaded {
        mut settings,
        mut store,
    } = match settings::load(command_line.clone()) {
        Ok(loaded) => loaded,
        Err(e) => return (Err(e), false),
    };
    let keep = settings.listen.after_run || settings.reprovision;
    settings.spawn_handoff = keep;
    let outcome = run::run(&settings, &mut store);
    crate::deadline::disarm();
    let outcome = crate::recorded(&mut store, outcome);
    let (exit, message) = match &outcome {
        Ok(_) => (0, "provisioned".to_string()),
        Err(e) => (e.code(), e.to_string()),
    };
    push::ended(&settings.state_dir(), exit, &message);
    (outcome, keep)
}

/// Accepts connections for ever, each served on a thread of its own
/// within the bounds of [`Slots`].
fn accept(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>, shared: &Arc<Shared>) {
    let slots = Arc::new(Slots::default());
    // Connections closed for want of a slot, said at most every 10 s.
    let mut refused = 0u64;
    let mut said = Instant::now() - Duration::from_secs(10);
    for conn in listener.incoming() {
        let tcp = match conn {
            Ok(tcp) => tcp,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                say(Step::Listen, format!("cannot accept a connection: {e}"));
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let Ok(peer) = tcp.peer_addr() else {
            continue;
        };
        let Some(slot) = Slot::take(&slots, peer.ip()) else {
            refused += 1;
            if said.elapsed() >= Duration::from_secs(10) {
                say(
                    Step::Listen,
                    format!("too many connections: {refused} closed at once, the last from {peer}"),
                );
                (refused, said) = (0, Instant::now());
            }
            continue;
        };
        let (shared, tls) = (Arc::clone(shared), tls.clone());
        std::thread::spawn(move || {
            serve(tcp, peer, tls, &shared);
            drop(slot);
        });
    }
}

/// One connection: one request, one answer.
fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: &Shared,
) {
    let deadline = Instant::now() + request::CONNECTION_TIME;
    let Ok(sock) = tcp.try_clone() else {
        return;
    };
    let bounded = Bounded { tcp, deadline };
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut stream = rustls::StreamOwned::new(conn, bounded);
            exchange(&mut stream, peer, shared);
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
        None => exchange(&mut { bounded }, peer, shared),
    }
    linger(&sock);
}

fn exchange(stream: &mut impl ReadWrite, peer: SocketAddr, shared: &Shared) {
    let (answer, what) = match request::read(stream) {
        Ok(req) => {
            let answer = push::answer(&req, peer.ip(), shared);
            (answer, format!("{} {}", req.method, req.path))
        }
        Err(Failed::Answer(answer)) => (answer, "a request".to_string()),
        Err(Failed::Dropped(why)) => {
            say(Step::Listen, format!("{peer}: dropped: {why}"));
            return;
        }
    };
    say(
        Step::Listen,
        printable(&format!("{peer} {what}: {} {}", answer.code, answer.text)),
    );
    let _ = stream
        .write_all(&answer.bytes())
        .and_then(|()| stream.flush());
}

/// A log line with what came from the network in it, with control and
/// bidirectional-format characters escaped: no request paints the
/// terminal or turns a line around.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            let format = matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || format {
                format!("\\u{{{:x}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Closes our side, then reads what the client still sends for a moment
/// ([`LINGER`] in all): closing with unread bytes would reset the
/// connection, and the client might lose the answer (a 413 sent before
/// the body was read).
fn linger(sock: &TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let mut rest = Bounded {
        tcp: match sock.try_clone() {
            Ok(tcp) => tcp,
            Err(_) => return,
        },
        deadline: Instant::now() + LINGER,
    };
    let mut sink = [0u8; 4096];
    while matches!(rest.read(&mut sink), Ok(n) if n > 0) {}
}

/// Connections in use, in all and per address.
#[derive(Default)]
struct Slots {
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place; given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Slot {
    fn take(slots: &Arc<Slots>, ip: IpAddr) -> Option<Slot> {
        let mut map = slots.by_address.lock().expect("not poisoned");
        let total: usize = map.values().sum();
        let mine = map.entry(ip).or_insert(0);
        if total >= MAX_CONNECTIONS || *mine >= MAX_PER_ADDRESS {
            return None;
        }
        *mine += 1;
        Some(Slot {
            slots: Arc::clone(slots),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.slots.by_address.lock().expect("not poisoned");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_printable() {
        assert_eq!(
            printable("a\x1b[31mb\u{202e}c é"),
            "a\\u{1b}[31mb\\u{202e}c é"
        );
    }

    #[test]
    fn slots_are_bounded() {
        let slots = Arc::new(Slots::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mine: Vec<Slot> = (0..MAX_PER_ADDRESS)
            .map(|_| Slot::take(&slots, ip).unwrap())
            .collect();
        assert!(Slot::take(&slots, ip).is_none());
        drop(mine);
        assert!(slots.by_address.lock().unwrap().is_empty());
        let _one = Slot::take(&slots, ip).unwrap();
    }
}

//! Multicast discovery: a backend sends a probe to the group
//! (`mbs.multicast.host`:`mbs.multicast.port`, 225.0.0.0:7777) and every
//! device running `preconf listen` there answers it, unicast, with who it is
//! and where its push endpoint is (README: "Finding devices: multicast
//! discovery").
//!
//! Both datagrams come from anyone on the link, and the source address of
//! a UDP datagram is whatever the sender wrote, so: the probe is one fixed
//! short text and nothing else is read; answers are rate-limited (a few a
//! second in all, one a second to an address), so a flood of spoofed
//! probes cannot make the device an amplifier against a third party; and an
//! answer is short whatever the device's identity.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::error::Step;
use crate::report;

/// The probe, version 1: these bytes, optionally ending in `\n` or `\r\n`.
pub(crate) const PROBE: &str = "PRECONF-PROBE 1";
/// A longer datagram is ignored unread: nothing a probe can be is longer.
const MAX_DATAGRAM: usize = 64;
/// No answer is longer (a test holds [`encode`] to it).
pub(crate) const MAX_ANSWER: usize = 256;
/// The spid as sent, after percent-encoding; a longer one is sent empty
/// rather than cut into another device's identity.
const MAX_SPID: usize = 160;
/// How often joining the group is tried again while it fails.
const RETRY: Duration = Duration::from_secs(5);
/// How often a member joins again, for an interface that changed.
const REJOIN: Duration = Duration::from_secs(60);
/// Answers in a burst, and then one every [`EVERY`] (5 a second).
const BURST: u32 = 10;
const EVERY: Duration = Duration::from_millis(200);
/// One answer to an address in this time.
const PER_SOURCE: Duration = Duration::from_secs(1);
/// Addresses remembered; the limits above keep far fewer than this recent.
const MAX_SOURCES: usize = 64;
/// Datagrams ignored are noted on stderr at most this often.
const NOTE_EVERY: Duration = Duration::from_secs(60);

/// What the device says about itself in an answer, at the time of the probe.
pub(crate) struct Answer {
    pub(crate) spid: Option<String>,
    /// "https" or "http": the push endpoint's scheme.
    pub(crate) scheme: &'static str,
    pub(crate) port: u16,
    pub(crate) provisioned: bool,
    /// The push endpoint's own address, when it listens on one address
    /// only; else the address the prober's route leaves from.
    pub(crate) host: Option<IpAddr>,
}

/// Binds UDP `port` on 0.0.0.0, joins `group` and answers probes on a
/// thread of its own until the process ends; port 0 is discovery off.
/// `answer` is called for each probe that is answered. An error binding
/// is returned; joining the group is tried again every 5 s while it fails
/// (at first boot the network may not be up yet), and until then only
/// probes sent to the device's own address are answered.
pub(crate) fn spawn(
    group: Ipv4Addr,
    port: u16,
    answer: Box<dyn Fn() -> Answer + Send>,
) -> io::Result<()> {
    if port == 0 {
        say("discovery off (mbs.multicast.port=0)");
        return Ok(());
    }
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))?;
    let joined = match join(&socket, group) {
        Ok(()) => {
            say(format_args!("discovery on {group}:{port}"));
            true
        }
        Err(e) => {
            say(format_args!(
                "cannot join the discovery group {group} yet ({e}); trying again every {} s, answering probes sent to port {port} of this device meanwhile",
                RETRY.as_secs()
            ));
            false
        }
    };
    std::thread::Builder::new()
        .name("discovery".into())
        .spawn(move || serve(&socket, group, joined, &*answer))?;
    Ok(())
}

/// One line on stderr: `preconf: listen: ...`.
fn say(message: impl std::fmt::Display) {
    report::say(Step::Listen, message);
}

/// Joins on the interface the route to `group` names; already a member
/// counts as joined.
fn join(socket: &UdpSocket, group: Ipv4Addr) -> io::Result<()> {
    match socket.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(()),
        other => other,
    }
}

fn serve(socket: &UdpSocket, group: Ipv4Addr, mut joined: bool, answer: &dyn Fn() -> Answer) {
    let port = socket.local_addr().map(|a| a.port()).unwrap_or_default();
    let mut limiter = Limiter::new(Instant::now());
    let mut ignored = Ignored::default();
    let mut answered = Answered::default();
    let mut next_join = Instant::now() + RETRY;
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    loop {
        // Joined again now and then as well: an interface that came up
        // late, or went and came back, takes the membership anew (one
        // already held counts as joined).
        if Instant::now() >= next_join {
            let was = joined;
            joined = join(socket, group).is_ok();
            if joined && !was {
                say(format_args!("discovery on {group}:{port}"));
            }
            next_join = Instant::now() + if joined { REJOIN } else { RETRY };
        }
        let wait = next_join.saturating_duration_since(Instant::now());
        let _ = socket.set_read_timeout(Some(wait.max(Duration::from_millis(10))));
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let now = Instant::now();
                let verdict = if !is_probe(&buf[..n]) || !can_answer(from) {
                    Some(Ignore::NotProbe)
                } else if !limiter.allow(from.ip(), now) {
                    Some(Ignore::Limited)
                } else {
                    if reply(socket, from, &answer()) {
                        if let Some(line) = answered.count(from, now) {
                            say(line);
                        }
                    }
                    None
                };
                if let Some(line) = verdict.and_then(|v| ignored.count(v, now)) {
                    say(line);
                }
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => {
                if let Some(line) = ignored.count(Ignore::Error, Instant::now()) {
                    say(format_args!("{line}; the last: {e}"));
                }
                // An error that repeats must not spin the thread.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Answers sent, said at most every [`SAY_ANSWERS`]: a flood of forged
/// probes is rate-limited, and so are the lines about it.
#[derive(Default)]
struct Answered {
    since: u64,
    said: Option<Instant>,
}

const SAY_ANSWERS: Duration = Duration::from_secs(10);

impl Answered {
    fn count(&mut self, to: SocketAddr, now: Instant) -> Option<String> {
        self.since += 1;
        if self
            .said
            .is_some_and(|t| now.duration_since(t) < SAY_ANSWERS)
        {
            return None;
        }
        let more = match self.since {
            1 => String::new(),
            n => format!(" (and {} more since the last line)", n - 1),
        };
        (self.since, self.said) = (0, Some(now));
        Some(format!("answered a probe from {to}{more}"))
    }
}

/// Sends the answer to where the probe came from, from the discovery
/// port; whether it went.
fn reply(socket: &UdpSocket, to: SocketAddr, answer: &Answer) -> bool {
    let host = match answer.host.map_or_else(|| address_towards(to), Ok) {
        Ok(ip) => ip,
        Err(e) => {
            say(format_args!(
                "cannot answer a probe from {to}: no route back ({e})"
            ));
            return false;
        }
    };
    let text = encode(answer, host);
    debug_assert!(text.len() <= MAX_ANSWER);
    let note = match &answer.spid {
        Some(s) if spid_field(s).is_none() => " (the spid is too long for an answer: sent empty)",
        _ => "",
    };
    if !note.is_empty() {
        say(format_args!("a probe from {to}{note}"));
    }
    match socket.send_to(text.as_bytes(), to) {
        Ok(_) => true,
        Err(e) => {
            say(format_args!("cannot answer a probe from {to} ({e})"));
            false
        }
    }
}

/// This device's address as the prober sees it: the source address the
/// kernel picks for a datagram to `to`. Connecting a UDP socket sends
/// nothing.
fn address_towards(to: SocketAddr) -> io::Result<IpAddr> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    s.connect(to)?;
    Ok(s.local_addr()?.ip())
}

/// Whether `datagram` is a probe: exactly [`PROBE`], then nothing, `\n`
/// or `\r\n`.
pub(crate) fn is_probe(datagram: &[u8]) -> bool {
    let rest = datagram.strip_prefix(PROBE.as_bytes());
    matches!(rest, Some(b"" | b"\n" | b"\r\n"))
}

/// Whether an answer can go to `from`: a unicast address and a port. A
/// probe from anywhere else was not sent by anyone who can read the answer.
fn can_answer(from: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = from else {
        return false;
    };
    let ip = *v4.ip();
    v4.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !ip.is_broadcast()
}

/// The answer: `spid#host#port#scheme#provisioned#preconf/VERSION`, the
/// first three as the ProSyst agent announces a device, then what preconf
/// adds. At most [`MAX_ANSWER`] bytes, all printable ASCII.
pub(crate) fn encode(answer: &Answer, host: IpAddr) -> String {
    let spid = answer
        .spid
        .as_deref()
        .and_then(spid_field)
        .unwrap_or_default();
    format!(
        "{spid}#{host}#{}#{}#{}#preconf/{}",
        answer.port,
        answer.scheme,
        u8::from(answer.provisioned),
        env!("CARGO_PKG_VERSION")
    )
}

/// The spid percent-encoded: `#`, `%` and every byte that is not printable
/// ASCII (the space included) as `%XX`; `None` if longer than [`MAX_SPID`]
/// then.
fn spid_field(spid: &str) -> Option<String> {
    // Encoded, each byte is at most 3: stop reading early.
    if spid.len() > MAX_SPID {
        return None;
    }
    let mut out = String::with_capacity(spid.len());
    for b in spid.bytes() {
        if b.is_ascii_graphic() && b != b'#' && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    (out.len() <= MAX_SPID).then_some(out)
}

/// Decodes what [`spid_field`] wrote; `None` for anything it cannot have.
#[cfg(any(test, fuzzing))]
pub(crate) fn decode_spid(field: &str) -> Option<String> {
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                let text = std::str::from_utf8(&hex).ok()?;
                if text.bytes().any(|h| h.is_ascii_lowercase()) {
                    return None;
                }
                out.push(u8::from_str_radix(text, 16).ok()?);
            }
            b'#' => return None,
            b if b.is_ascii_graphic() => out.push(b),
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Which probes are answered: a token bucket for all of them ([`BURST`],
/// then one every [`EVERY`]) and one answer a second to an address.
pub(crate) struct Limiter {
    /// Time saved up, capped at `BURST` answers' worth; an answer costs
    /// `EVERY`.
    credit: Duration,
    last: Instant,
    /// When each address was last answered.
    recent: HashMap<IpAddr, Instant>,
}

impl Limiter {
    pub(crate) fn new(now: Instant) -> Limiter {
        Limiter {
            credit: EVERY * BURST,
            last: now,
            recent: HashMap::new(),
        }
    }

    /// Whether a probe from `source` at `now` may be answered; counts it
    /// if so.
    pub(crate) fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        self.credit = (self.credit + now.saturating_duration_since(self.last)).min(EVERY * BURST);
        self.last = self.last.max(now);
        let too_soon = |t: &Instant| now.saturating_duration_since(*t) < PER_SOURCE;
        if self.recent.get(&source).is_some_and(too_soon) || self.credit < EVERY {
            return false;
        }
        if self.recent.len() >= MAX_SOURCES {
            self.recent.retain(|_, t| too_soon(t));
            // The bucket lets at most BURST + 5 through in a second, so
            // this cannot happen; if it did, refusing is the safe side.
            if self.recent.len() >= MAX_SOURCES {
                return false;
            }
        }
        self.credit -= EVERY;
        self.recent.insert(source, now);
        true
    }

    #[cfg(any(test, fuzzing))]
    pub(crate) fn remembered(&self) -> usize {
        self.recent.len()
    }
}

/// Why a datagram got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ignore {
    NotProbe,
    Limited,
    Error,
}

/// Counts of what got no answer, noted on stderr the first time and then
/// at most once every [`NOTE_EVERY`]: a flood does not flood the log.
#[derive(Default)]
struct Ignored {
    not_probes: u64,
    limited: u64,
    errors: u64,
    noted: Option<Instant>,
}

impl Ignored {
    /// Counts one; returns the line to print if one is due.
    fn count(&mut self, why: Ignore, now: Instant) -> Option<String> {
        match why {
            Ignore::NotProbe => self.not_probes += 1,
            Ignore::Limited => self.limited += 1,
            Ignore::Error => self.errors += 1,
        }
        if self
            .noted
            .is_some_and(|t| now.saturating_duration_since(t) < NOTE_EVERY)
        {
            return None;
        }
        self.noted = Some(now);
        let line = format!(
            "ignored {} datagram(s) that were not probes, {} probe(s) over the rate limit and {} receive error(s) (noted at most once a minute)",
            self.not_probes, self.limited, self.errors
        );
        (self.not_probes, self.limited, self.errors) = (0, 0, 0);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(spid: Option<&str>) -> Answer {
        Answer {
            spid: spid.map(str::to_string),
            scheme: "https",
            port: 8443,
            provisioned: true,
            host: None,
        }
    }

    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    #[test]
    fn probes_are_one_text_and_nothing_else() {
        for good in [
            &b"PRECONF-PROBE 1"[..],
            b"PRECONF-PROBE 1\n",
            b"PRECONF-PROBE 1\r\n",
        ] {
            assert!(is_probe(good), "{good:?}");
        }
        for bad in [
            &b""[..],
            b"PRECONF-PROBE",
            b"PRECONF-PROBE 2",
            b"PRECONF-PROBE 1 ",
            b"PRECONF-PROBE 1\n\n",
            b"PRECONF-PROBE 1\r",
            b"preconf-probe 1",
            b" PRECONF-PROBE 1",
            b"PRECONF-PROBE 10",
            b"PRECONF-PROBE 1\0",
            b"PRECONF-PROBE\t1",
        ] {
            assert!(!is_probe(bad), "{bad:?}");
        }
        assert!(PROBE.len() + 2 <= MAX_DATAGRAM);
    }

    #[test]
    fn answers_go_only_to_unicast_sources() {
        assert!(can_answer("198.51.100.2:40000".parse().unwrap()));
        for bad in [
            "198.51.100.2:0",
            "0.0.0.0:40000",
            "225.0.0.0:7777",
            "255.255.255.255:7777",
            "[2001:db8::1]:7777",
        ] {
            assert!(!can_answer(bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn answers_start_as_the_prosyst_agent_announces() {
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            encode(&answer(Some("ACME-1")), HOST),
            format!("ACME-1#198.51.100.1#8443#https#1#preconf/{version}")
        );
        let plain = Answer {
            spid: None,
            scheme: "http",
            port: 8080,
            provisioned: false,
            host: None,
        };
        assert_eq!(
            encode(&plain, HOST),
            format!("#198.51.100.1#8080#http#0#preconf/{version}")
        );
    }

    #[test]
    fn the_spid_is_escaped_and_bounded() {
        let cases = [
            ("a#b", "a%23b"),
            ("100%", "100%25"),
            ("two words", "two%20words"),
            ("tab\there", "tab%09here"),
            ("é", "%C3%A9"),
            ("\u{7f}~!", "%7F~!"),
        ];
        for (spid, field) in cases {
            assert_eq!(spid_field(spid).as_deref(), Some(field));
            assert_eq!(decode_spid(field).as_deref(), Some(spid));
            let text = encode(&answer(Some(spid)), HOST);
            assert!(text.starts_with(&format!("{field}#")), "{text}");
            assert_eq!(text.matches('#').count(), 5);
        }
        // The longest spid that fits, and one byte more: sent empty.
        let long = "x".repeat(MAX_SPID);
        assert_eq!(spid_field(&long).as_deref(), Some(long.as_str()));
        assert_eq!(spid_field(&format!("{long}x")), None);
        assert_eq!(spid_field(&"#".repeat(MAX_SPID / 3 + 1)), None);
        assert!(encode(&answer(Some(&format!("{long}x"))), HOST).starts_with("#198."));
        // The longest answer there can be is within bounds.
        let worst = Answer {
            spid: Some(long),
            scheme: "https",
            port: u16::MAX,
            provisioned: true,
            host: None,
        };
        let text = encode(&worst, IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)));
        assert!(text.len() <= MAX_ANSWER, "{}", text.len());
        assert!(text.bytes().all(|b| b.is_ascii_graphic()));
        for bad in ["%", "%2", "%zz", "%2f", "a#b", "a b", "%FF"] {
            assert_eq!(decode_spid(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_burst_then_five_a_second() {
        let t = Instant::now();
        let mut l = Limiter::new(t);
        let src = |i: u32| IpAddr::from((0xc633_6400 + i).to_be_bytes());
        // Ten at once, from ten addresses; the eleventh waits.
        for i in 0..BURST {
            assert!(l.allow(src(i), t), "{i}");
        }
        assert!(!l.allow(src(100), t));
        assert!(!l.allow(src(100), t + Duration::from_millis(199)));
        assert!(l.allow(src(100), t + Duration::from_millis(200)));
        assert!(!l.allow(src(101), t + Duration::from_millis(250)));
        // Over ten seconds of a flood from many addresses: five a second.
        let mut answered = 0;
        for ms in (1_000..11_000).step_by(10) {
            answered += u32::from(l.allow(src(200 + ms), t + Duration::from_millis(ms.into())));
        }
        // Five a second, and what the bucket saved up since the burst.
        assert!((50..=50 + BURST).contains(&answered), "{answered}");
        assert!(l.remembered() <= MAX_SOURCES);
        // Quiet for long enough, and the burst is back, not more.
        let later = t + Duration::from_secs(60);
        let granted = (0..100).filter(|i| l.allow(src(1000 + i), later)).count();
        assert_eq!(granted, BURST as usize);
        assert!(l.remembered() <= MAX_SOURCES);
    }

    #[test]
    fn one_answer_a_second_to_an_address() {
        let t = Instant::now();
        let mut l = Limiter::new(t);
        let a: IpAddr = "198.51.100.2".parse().unwrap();
        let b: IpAddr = "198.51.100.3".parse().unwrap();
        assert!(l.allow(a, t));
        assert!(!l.allow(a, t + Duration::from_millis(999)));
        assert!(l.allow(b, t + Duration::from_millis(999)));
        assert!(l.allow(a, t + Duration::from_secs(1)));
        // A clock that goes back answers nothing twice.
        assert!(!l.allow(a, t));
    }

    #[test]
    fn ignored_datagrams_are_noted_once_a_minute() {
        let t = Instant::now();
        let mut i = Ignored::default();
        let first = i.count(Ignore::NotProbe, t).unwrap();
        assert!(first.starts_with("ignored 1 datagram(s) that were not probes, 0 probe"));
        for s in 1..60 {
            assert_eq!(i.count(Ignore::Limited, t + Duration::from_secs(s)), None);
        }
        let next = i.count(Ignore::NotProbe, t + NOTE_EVERY).unwrap();
        assert!(next.contains("ignored 1 datagram(s) that were not probes, 59 probe(s)"));
    }
}

//! The remote provisioning log: typed progress events, the idea of RFC
//! 8572's report-progress, POSTed as JSON lines to `prm.prv.log` (else the
//! bundle's `report_url`), so whoever provisions a fleet sees where each
//! device got to, and why one stopped.
//!
//! Reporting never blocks or fails a run: events wait in a bounded queue,
//! a background thread sends them in batches with short timeouts, and
//! what is not delivered when the run ends is kept in the state directory
//! and sent first by the next run, wherever that one reports to. No event
//! holds a secret: the messages are our own step and error sentences,
//! which never carry a password, a token or the agent config.
//!
//! The log is global, as `say` is. Each run starts it afresh (`begin`,
//! `end`), since `preconf listen` runs many in one process; a sender still
//! busy with an earlier run's batch sees that and stops.

mod event;
mod queue;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ureq::tls::TlsConfig;
use url::Url;

pub(crate) use event::Event;
use queue::{MAX_KEPT_BYTES, Queue};

use crate::clock;
use crate::error::{Error, Step};
use crate::net::dns::Dns;
use crate::net::http::Http;
use crate::report::say;
use crate::settings::Settings;
use crate::state::files;

const MEDIA_TYPE: &str = "application/x-ndjson";
/// Patience with the log server: per connect and read, and at the end of
/// a run. Short, as the run waits for nobody but its own server.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Events this close together travel in one batch.
const LINGER: Duration = Duration::from_millis(200);
/// The longest pause before trying a failed server again.
const MAX_BACKOFF: Duration = Duration::from_secs(16);
/// The events kept for the next run, in the state directory.
const KEPT: &str = "report.pending";

static LOG: Mutex<Option<Log>> = Mutex::new(None);
/// Wakes the sender (an event, a destination, a flush) and a flush (a
/// batch settled).
static WAKE: Condvar = Condvar::new();
static RUNS: AtomicU64 = AtomicU64::new(0);

/// The log of one run.
struct Log {
    /// Which run: a sender of an earlier one stops when it sees another.
    run: u64,
    queue: Queue,
    last_seq: u64,
    spid: Option<String>,
    /// prm.remote.debug: step lines become events too, those of the
    /// run's own thread only (not a listener's or discovery's).
    debug: bool,
    thread: std::thread::ThreadId,
    state_dir: PathBuf,
    /// prm.prv.log is set: undelivered events are kept even when the run
    /// ended before it could reach the server.
    configured: bool,
    /// The run's trust and nameservers, for whichever URL the log goes to.
    transport: Option<(TlsConfig, Dns)>,
    /// Where the events go; set once, the run's sender is running.
    to: Option<Arc<Destination>>,
    /// Counts flushes: each earns one more try of a failed server.
    flushes: u64,
    flushing: bool,
    /// An event came or a batch settled since the last flush.
    changed: bool,
}

struct Destination {
    url: Url,
    http: Http,
}

fn lock() -> MutexGuard<'static, Option<Log>> {
    LOG.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on the current run's log, if a run is being logged.
fn with<T>(f: impl FnOnce(&mut Log) -> T) -> Option<T> {
    lock().as_mut().map(f)
}

/// Starts the log of a run, with the events an earlier run kept first;
/// the new events' `seq` goes on from theirs.
pub(crate) fn begin(s: &Settings) {
    let state_dir = s.state_dir();
    let kept = read_kept(&state_dir.join(KEPT));
    let (queue, last_seq) = Queue::from_kept(&String::from_utf8_lossy(&kept));
    *lock() = Some(Log {
        run: RUNS.fetch_add(1, Ordering::SeqCst) + 1,
        queue,
        last_seq,
        spid: None,
        debug: s.remote_debug,
        thread: std::thread::current().id(),
        state_dir,
        configured: s.prv_log.is_some(),
        transport: None,
        to: None,
        flushes: 0,
        flushing: false,
        changed: false,
    });
    WAKE.notify_all();
}

/// The device's identity for the events from here on; the first one known
/// stays.
pub(crate) fn identify(spid: Option<&str>) {
    if let Some(id) = spid {
        with(|log| {
            log.spid.get_or_insert_with(|| id.to_string());
        });
    }
}

/// Reports `event`; never waits for the network.
pub(crate) fn event(event: Event, message: impl Display) {
    let message = message.to_string();
    let queued = with(|log| {
        log.last_seq += 1;
        let spid = log.spid.as_deref();
        let line = event::line(log.last_seq, clock::unix_now(), event, spid, &message);
        log.queue.push(line);
        log.changed = true;
    });
    if queued.is_some() {
        WAKE.notify_all();
    }
}

/// A step line of the run, as an event with prm.remote.debug. Not the
/// log's own lines, nor the login's or the hand-off's (a login name, the
/// configurator's arguments), nor lines of other threads: a listener's
/// connections and discovery's probes are not the run's, and must not
/// crowd its events out of the queue.
pub(crate) fn debug(step: Step, message: &dyn Display) {
    if matches!(step, Step::Progress | Step::Credentials | Step::Handoff) {
        return;
    }
    let ours = with(|log| log.debug && log.thread == std::thread::current().id());
    if ours == Some(true) {
        event(Event::Debug(step), message);
    }
}

/// The run failed with `e`.
pub(crate) fn failed(e: &Error) {
    event(Event::RunFailed(e.code()), e);
}

/// The run knows whom it trusts and which nameservers it asks: the log
/// server is reached the same way. `log` is prm.prv.log, if set.
pub(crate) fn connect(log: Option<&Url>, tls: &TlsConfig, dns: &Dns) {
    with(|l| {
        l.transport = Some((tls.clone(), dns.clone()));
        aim(l, log);
    });
    WAKE.notify_all();
}

/// Sends the events to `url` from now on (prm.prv.log as a bundle set it,
/// or the bundle's report_url), once [`connect`] told how.
pub(crate) fn send_to(url: Option<&Url>) {
    with(|l| aim(l, url));
    WAKE.notify_all();
}

fn aim(log: &mut Log, url: Option<&Url>) {
    let (Some(url), Some((tls, dns))) = (url, &log.transport) else {
        return;
    };
    if log.to.as_ref().is_some_and(|to| to.url == *url) {
        return;
    }
    // Its own client, with short timeouts and no device id: the events
    // say who is reporting.
    let http = Http::new(tls.clone(), dns.clone(), TIMEOUT, None);
    let first = log.to.is_none();
    log.to = Some(Arc::new(Destination {
        url: url.clone(),
        http,
    }));
    if first {
        let run = log.run;
        let _ = std::thread::Builder::new().spawn(move || send(run));
    }
}

/// The sender of run `run`: batch after batch, pausing longer after each
/// failure, until that run's log ends.
fn send(run: u64) {
    let mut pause = Duration::ZERO;
    while let Some((to, body)) = next_batch(run) {
        let delivered = to
            .http
            .post(&to.url, MEDIA_TYPE, body.as_bytes(), TIMEOUT * 2)
            .is_ok();
        let mut log = lock();
        let Some(l) = current(&mut log, run) else {
            return;
        };
        l.queue.settle(delivered);
        l.changed = true;
        WAKE.notify_all();
        if delivered {
            pause = Duration::ZERO;
            continue;
        }
        pause = (pause * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        // A flush that starts meanwhile earns one more try at once.
        let flushes = l.flushes;
        let _ = WAKE.wait_timeout_while(log, pause, |log| {
            current(log, run).is_some_and(|l| l.flushes == flushes)
        });
    }
}

/// The log, if it is still run `run`'s.
fn current(log: &mut Option<Log>, run: u64) -> Option<&mut Log> {
    log.as_mut().filter(|l| l.run == run)
}

/// Waits for events and a place to send them; lingers a moment for more,
/// unless the run is ending. None when the run's log ended.
fn next_batch(run: u64) -> Option<(Arc<Destination>, String)> {
    let log = lock();
    let log = WAKE
        .wait_while(log, |log| {
            current(log, run).is_some_and(|l| l.to.is_none() || !l.queue.has_waiting())
        })
        .unwrap_or_else(PoisonError::into_inner);
    let (mut log, _) = WAKE
        .wait_timeout_while(log, LINGER, |log| {
            current(log, run).is_some_and(|l| !l.flushing)
        })
        .unwrap_or_else(PoisonError::into_inner);
    let l = current(&mut log, run)?;
    Some((l.to.clone()?, l.queue.take()))
}

/// Gives the sender up to [`TIMEOUT`] to deliver what is queued, then
/// keeps what it could not in the state directory for the next run, or
/// removes the kept file when everything arrived. Called before the
/// configurator takes over and when a run ends.
pub(crate) fn flush() {
    let deadline = Instant::now() + TIMEOUT;
    let mut log = lock();
    match log.as_mut() {
        Some(l) if l.changed => {
            l.flushes += 1;
            l.flushing = true;
        }
        _ => return,
    }
    WAKE.notify_all();
    loop {
        let waiting = log
            .as_ref()
            .is_some_and(|l| l.to.is_some() && !l.queue.is_drained());
        let left = deadline.saturating_duration_since(Instant::now());
        if !waiting || left.is_zero() {
            break;
        }
        log = WAKE
            .wait_timeout(log, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    let Some(l) = log.as_mut() else {
        return;
    };
    l.flushing = false;
    l.changed = false;
    // No log for this run: what an earlier run kept waits for one that
    // has a log server.
    if l.to.is_none() && !l.configured {
        return;
    }
    let kept = l.queue.kept();
    let dir = l.state_dir.clone();
    let to = l.to.as_ref().map(|to| to.url.clone());
    drop(log);
    keep(&dir, &kept, to.as_ref());
}

/// The kept file, if it is a regular file: not a FIFO to hang on, nor a
/// link to read something else through.
fn read_kept(path: &Path) -> Vec<u8> {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return Vec::new();
    }
    files::read_limited(path, MAX_KEPT_BYTES).unwrap_or_default()
}

/// Writes the kept file, or removes it when nothing is left to send.
fn keep(dir: &Path, kept: &str, to: Option<&Url>) {
    let path = dir.join(KEPT);
    if kept.is_empty() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    // As with the storage: only where a run has made the state directory,
    // so a first run that fails leaves nothing behind.
    if !dir.is_dir() {
        say(
            Step::Progress,
            format!(
                "{} event(s) not delivered, and not kept: no state directory yet",
                kept.lines().count()
            ),
        );
        return;
    }
    let n = kept.lines().filter(|l| l.starts_with("{\"seq\"")).count();
    let to = to.map(|u| format!(" to {u}")).unwrap_or_default();
    match files::write_atomic(&path, kept.as_bytes(), 0o600) {
        Ok(()) => say(
            Step::Progress,
            format!(
                "{n} event(s) not delivered{to}; kept in {} for the next run",
                path.display()
            ),
        ),
        Err(e) => say(
            Step::Progress,
            format!("{n} event(s) not delivered{to}, and not kept: {e}"),
        ),
    }
}

/// Ends the run's log: a last flush, and its sender stops.
pub(crate) fn end() {
    flush();
    *lock() = None;
    WAKE.notify_all();
}

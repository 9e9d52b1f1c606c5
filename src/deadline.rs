//! The whole run has a deadline, so a silent network never leaves a device
//! hanging; time spent waiting for the person to answer does not count.
//!
//! A watchdog thread ends the process when the deadline passes. Every file
//! the run writes is written atomically, so ending at any moment is safe.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static START: OnceLock<Instant> = OnceLock::new();
/// Milliseconds after START at which the run gives up.
static LIMIT_MS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Prompts in progress; the watchdog holds off while one is open.
static PAUSED: AtomicU32 = AtomicU32::new(0);
/// The watchdog, started by the first `arm`: `preconf listen` runs more
/// than once in one process.
static WATCHDOG: OnceLock<()> = OnceLock::new();

fn now_ms() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Starts the clock; `on_expiry` runs on the watchdog thread, then the
/// process exits with the code it returns.
pub(crate) fn arm(limit: Duration, on_expiry: fn() -> i32) {
    LIMIT_MS.store(
        now_ms().saturating_add(limit.as_millis() as u64),
        Ordering::SeqCst,
    );
    WATCHDOG.get_or_init(|| {
        std::thread::spawn(move || watch(on_expiry));
    });
}

/// Stops the clock: the run is over, and the process goes on (listening).
pub(crate) fn disarm() {
    LIMIT_MS.store(u64::MAX, Ordering::SeqCst);
}

fn watch(on_expiry: fn() -> i32) {
    loop {
        let now = now_ms();
        let limit = LIMIT_MS.load(Ordering::SeqCst);
        if now >= limit && PAUSED.load(Ordering::SeqCst) == 0 {
            std::process::exit(on_expiry());
        }
        let wait = limit.saturating_sub(now).clamp(20, 500);
        std::thread::sleep(Duration::from_millis(wait));
    }
}

/// Runs `f` (a question to the person) with the clock stopped.
pub(crate) fn paused<T>(f: impl FnOnce() -> T) -> T {
    PAUSED.fetch_add(1, Ordering::SeqCst);
    let t0 = now_ms();
    let out = f();
    // Saturating: a clock that is not armed stays unarmed.
    let waited = now_ms() - t0;
    let _ = LIMIT_MS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
        Some(l.saturating_add(waited))
    });
    PAUSED.fetch_sub(1, Ordering::SeqCst);
    out
}

//! The run's voice: one line per step on stderr, so the person holding the
//! device sees what happens, and stdout stays free for machine output.

use crate::error::Step;

pub(crate) fn say(step: Step, message: impl std::fmt::Display) {
    eprintln!("preconf: {}: {message}", step.name());
}

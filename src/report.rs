//! The run's voice: one line per step on stderr, so the person holding the
//! device sees what happens, and stdout stays free for machine output.
//! With prm.remote.debug the same lines go to the progress log.

use crate::error::Step;
use crate::progress;

pub(crate) fn say(step: Step, message: impl std::fmt::Display) {
    eprintln!("preconf: {}: {message}", step.name());
    progress::debug(step, &message);
}

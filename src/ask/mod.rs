//! Questions to the person holding the device: on the terminal when there
//! is one, else through an askpass helper (a run started by a browser has
//! no terminal). The run's clock stops while they think.

mod helper;
mod terminal;

use std::io;

pub(crate) use helper::ENV_ASKPASS;
use helper::{Helper, Kind, Reply};
use terminal::Terminal;

use crate::deadline;
use crate::error::{Error, Exit, Result, Step};

/// A question, and what to say when it cannot be asked.
pub(crate) struct Question<'a> {
    pub(crate) step: Step,
    /// As shown: "Login for cfg.example.com: ".
    pub(crate) text: &'a str,
    /// What could not be done without anyone to ask: "confirm the domain x".
    pub(crate) purpose: &'a str,
    /// The way out without a person: "pass --yes to accept it".
    pub(crate) instead: &'a str,
}

pub(crate) struct Person {
    term: Option<Terminal>,
    helper: Option<Helper>,
    /// Something told while there is no terminal: shown with the next
    /// question the helper asks.
    note: Option<String>,
}

impl Person {
    /// Whoever can answer here: the terminal, and the askpass helper.
    pub(crate) fn find() -> Person {
        Person {
            term: Terminal::open().ok(),
            helper: Helper::from_env(),
            note: None,
        }
    }

    /// Whether anyone can be asked at all.
    pub(crate) fn can_ask(&self) -> bool {
        self.term.is_some() || self.helper.is_some()
    }

    /// A line of text; empty when the person just pressed Enter.
    pub(crate) fn ask(&mut self, q: &Question) -> Result<String> {
        if let Some(t) = self.term.as_mut() {
            return deadline::paused(|| t.ask(q.text)).map_err(|e| tty_failed(q, e));
        }
        match self.helper_ask(Kind::Text, q)? {
            Reply::Answer(a) => Ok(a.trim().to_string()),
            Reply::Cancelled(status) => Err(self.cancelled(q, status)),
        }
    }

    /// Yes or no; Enter takes `default`, and a cancelled dialog is a no.
    pub(crate) fn yes_no(&mut self, q: &Question, default: bool) -> Result<bool> {
        if let Some(t) = self.term.as_mut() {
            return deadline::paused(|| t.yes_no(q.text, default)).map_err(|e| tty_failed(q, e));
        }
        // As OpenSSH reads a confirmation: an older ssh-askpass ignores
        // SSH_ASKPASS_PROMPT and shows a text entry, so OK with "no" typed
        // in it must not count as yes. zenity answers by exit code alone.
        Ok(match self.helper_ask(Kind::YesNo, q)? {
            Reply::Answer(a) => {
                let a = a.trim();
                a.is_empty() || a.eq_ignore_ascii_case("yes") || a.eq_ignore_ascii_case("y")
            }
            Reply::Cancelled(_) => false,
        })
    }

    /// A secret, never echoed. PRECONF_ASKPASS, when set, is asked even
    /// with a terminal at hand: that is what setting it means.
    pub(crate) fn secret(&mut self, q: &Question) -> Result<String> {
        let chosen = self.helper.as_ref().is_some_and(|h| h.chosen);
        if let (Some(t), false) = (self.term.as_mut(), chosen) {
            return deadline::paused(|| t.password(q.text)).map_err(|e| tty_failed(q, e));
        }
        match self.helper_ask(Kind::Secret, q)? {
            Reply::Answer(a) => Ok(a),
            Reply::Cancelled(status) => Err(self.cancelled(q, status)),
        }
    }

    /// Where a secret would come from, for the log line.
    pub(crate) fn secret_source(&self) -> String {
        match (&self.term, &self.helper) {
            (_, Some(h)) if h.chosen => h.describe(),
            (Some(_), _) => "the terminal".into(),
            (None, Some(h)) => h.describe(),
            (None, None) => "nowhere".into(),
        }
    }

    /// A line for the person, before the next question.
    pub(crate) fn tell(&mut self, line: &str) {
        match self.term.as_mut() {
            Some(t) => t.tell(line).unwrap_or(()),
            None => self.note = Some(line.to_string()),
        }
    }

    fn helper_ask(&mut self, kind: Kind, q: &Question) -> Result<Reply> {
        let Some(h) = &self.helper else {
            return Err(unanswerable(
                q.step,
                format!("no terminal or askpass helper to {}", q.purpose),
                q.instead,
            ));
        };
        let text = match self.note.take() {
            Some(note) => format!("{note}\n{}", q.text),
            None => q.text.to_string(),
        };
        deadline::paused(|| h.ask(kind, &text)).map_err(|e| {
            Error::new(
                q.step,
                Exit::Config,
                format!(
                    "cannot run the askpass helper {}: {e}; check {ENV_ASKPASS}.",
                    h.describe()
                ),
            )
        })
    }

    fn cancelled(&self, q: &Question, status: std::process::ExitStatus) -> Error {
        let by = self
            .helper
            .as_ref()
            .map(Helper::describe)
            .unwrap_or_default();
        Error::new(
            q.step,
            Exit::NoPerm,
            format!(
                "the question \"{}\" was cancelled in {by} ({status}); nothing was changed, run preconf again to start over.",
                q.text.trim_end_matches([' ', ':'])
            ),
        )
    }
}

/// The one error for a question that cannot be asked (no terminal, or the
/// terminal failed): a usage error, since the way out is a terminal or a
/// flag, which `instead` names.
fn unanswerable(step: Step, why: impl std::fmt::Display, instead: &str) -> Error {
    Error::new(step, Exit::Usage, format!("{why}; {instead}."))
}

fn tty_failed(q: &Question, e: io::Error) -> Error {
    unanswerable(
        q.step,
        format!("cannot ask on the terminal: {e}"),
        q.instead,
    )
}

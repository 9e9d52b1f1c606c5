//! Questions to the person holding the device, on the terminal (/dev/tty),
//! so they work whatever stdin and stdout are connected to.

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

use crate::deadline;
use crate::error::{Error, Exit, Step};

/// The one error for a question that cannot be asked (no terminal, or the
/// terminal failed): a usage error, since the way out is a terminal or a
/// flag, which `instead` names.
pub(crate) fn unanswerable(step: Step, why: impl Display, instead: &str) -> Error {
    Error::new(step, Exit::Usage, format!("{why}; {instead}."))
}

/// [`unanswerable`], for a terminal that failed while asking.
pub(crate) fn terminal_failed(step: Step, e: io::Error, instead: &str) -> Error {
    unanswerable(step, format!("cannot ask on the terminal: {e}"), instead)
}

pub(crate) struct Terminal {
    reader: BufReader<File>,
    writer: File,
}

/// What the person said to "Is your company domain X?".
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DomainAnswer {
    Yes,
    No,
    Other(String),
}

impl Terminal {
    pub(crate) fn open() -> io::Result<Terminal> {
        let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
        Ok(Terminal {
            writer: tty.try_clone()?,
            reader: BufReader::new(tty),
        })
    }

    /// Asks a question and returns the trimmed answer line.
    pub(crate) fn ask(&mut self, question: &str) -> io::Result<String> {
        deadline::paused(|| {
            write!(self.writer, "{question}")?;
            self.writer.flush()?;
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the terminal closed",
                ));
            }
            Ok(line.trim().to_string())
        })
    }

    /// A yes/no question; an empty answer takes `default`.
    pub(crate) fn yes_no(&mut self, question: &str, default: bool) -> io::Result<bool> {
        let hint = if default { "[Y/n]" } else { "[y/N]" };
        loop {
            match self
                .ask(&format!("{question} {hint} "))?
                .to_ascii_lowercase()
                .as_str()
            {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => writeln!(self.writer, "Please answer y or n.")?,
            }
        }
    }

    pub(crate) fn confirm_domain(&mut self, domain: &str) -> io::Result<DomainAnswer> {
        let a = self.ask(&format!(
            "Is your company domain {domain}? [Y/n or type another] "
        ))?;
        Ok(match a.to_ascii_lowercase().as_str() {
            "" | "y" | "yes" => DomainAnswer::Yes,
            "n" | "no" => DomainAnswer::No,
            _ => DomainAnswer::Other(a),
        })
    }

    pub(crate) fn tell(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.writer, "{line}")
    }

    /// Reads a secret with echo off.
    pub(crate) fn password(&mut self, prompt: &str) -> io::Result<String> {
        deadline::paused(|| rpassword::prompt_password(prompt))
    }
}

//! The terminal (/dev/tty), so questions work whatever stdin and stdout
//! are connected to.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

pub(super) struct Terminal {
    reader: BufReader<File>,
    writer: File,
}

impl Terminal {
    pub(super) fn open() -> io::Result<Terminal> {
        let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
        Ok(Terminal {
            writer: tty.try_clone()?,
            reader: BufReader::new(tty),
        })
    }

    /// Asks a question and returns the trimmed answer line.
    pub(super) fn ask(&mut self, question: &str) -> io::Result<String> {
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
    }

    /// A yes/no question; an empty answer takes `default`.
    pub(super) fn yes_no(&mut self, question: &str, default: bool) -> io::Result<bool> {
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

    pub(super) fn tell(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.writer, "{line}")
    }

    /// Reads a secret with echo off.
    pub(super) fn password(&mut self, prompt: &str) -> io::Result<String> {
        rpassword::prompt_password(prompt)
    }
}

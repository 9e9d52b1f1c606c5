//! An askpass helper: a graphical program that asks one question, for a
//! run with no terminal (started by a browser, say).
//!
//! Two conventions are spoken. ssh-askpass's: the question is the only
//! argument, the answer comes on stdout, a non-zero exit means cancel, and
//! `SSH_ASKPASS_PROMPT=confirm` makes it a yes/no question. zenity's own
//! flags, since it is the dialog program most desktops already have.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The variable naming the helper; it wins over the ones found on PATH.
pub(crate) const ENV_ASKPASS: &str = "PRECONF_ASKPASS";

/// Looked for on PATH when PRECONF_ASKPASS is not set, in this order.
const ON_PATH: &[&str] = &["zenity", "ssh-askpass"];

pub(super) struct Helper {
    program: PathBuf,
    zenity: bool,
    /// Named by PRECONF_ASKPASS, not merely found.
    pub(super) chosen: bool,
}

/// What a question to the helper came to.
pub(super) enum Reply {
    Answer(String),
    /// The person pressed Cancel (or No), or the helper failed.
    Cancelled(ExitStatus),
}

/// What kind of question.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Secret,
    YesNo,
}

impl Helper {
    /// PRECONF_ASKPASS, else zenity or ssh-askpass on PATH.
    pub(super) fn from_env() -> Option<Helper> {
        if let Some(prog) = std::env::var_os(ENV_ASKPASS).filter(|p| !p.is_empty()) {
            let program = PathBuf::from(prog);
            let zenity = is_zenity(&program);
            return Some(Helper {
                program,
                zenity,
                chosen: true,
            });
        }
        let path = std::env::var_os("PATH")?;
        ON_PATH.iter().find_map(|name| {
            let program = on_path(&path, name)?;
            Some(Helper {
                zenity: is_zenity(&program),
                program,
                chosen: false,
            })
        })
    }

    /// For messages: "PRECONF_ASKPASS (/usr/bin/x)", or the program found.
    pub(super) fn describe(&self) -> String {
        if self.chosen {
            format!("{ENV_ASKPASS} ({})", self.program.display())
        } else {
            self.program.display().to_string()
        }
    }

    pub(super) fn ask(&self, kind: Kind, question: &str) -> std::io::Result<Reply> {
        let mut cmd = Command::new(&self.program);
        if self.zenity {
            cmd.args(zenity_args(kind, question));
        } else {
            cmd.arg(question);
            if kind == Kind::YesNo {
                cmd.env("SSH_ASKPASS_PROMPT", "confirm");
            }
        }
        // The helper gets no secret of ours, and stdout is the answer alone.
        let out = cmd
            .env_remove(crate::credentials::ENV_PASSWORD)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            return Ok(Reply::Cancelled(out.status));
        }
        let mut answer = String::from_utf8_lossy(&out.stdout).into_owned();
        while answer.ends_with(['\n', '\r']) {
            answer.pop();
        }
        Ok(Reply::Answer(answer))
    }
}

fn zenity_args(kind: Kind, question: &str) -> Vec<OsString> {
    let text = format!("--text={question}");
    let args: &[&str] = match kind {
        Kind::Text => &["--entry"],
        Kind::Secret => &["--entry", "--hide-text"],
        // The question holds host names from the network: no Pango markup.
        Kind::YesNo => &["--question", "--no-markup"],
    };
    let mut v: Vec<OsString> = vec!["--title=preconf".into()];
    v.extend(args.iter().map(OsString::from));
    v.push(text.into());
    v
}

fn is_zenity(program: &Path) -> bool {
    program.file_name().is_some_and(|n| n == "zenity")
}

fn on_path(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

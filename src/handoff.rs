//! Step 9: hand control to the configurator. The process is replaced by it
//! (exec), with the run's results in its environment; the device password
//! stays in the 0600 bundle file and our own secrets are removed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::credentials::{ENV_ASKPASS, ENV_PASSWORD};
use crate::error::{Error, Exit, Step};

/// What the configurator is started with.
pub struct Handoff {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
}

impl Handoff {
    /// `command[0]` is taken below `root`, like every path the run writes.
    pub fn new(
        command: &[String],
        root: &Path,
        env: Vec<(&'static str, String)>,
    ) -> Option<Handoff> {
        let (first, rest) = command.split_first()?;
        let program = crate::files::under_root(root, first)?;
        Some(Handoff {
            program,
            args: rest.to_vec(),
            env,
        })
    }

    /// The command line as a shell would take it, for --no-exec.
    pub fn shell_line(&self) -> String {
        let mut words = vec![quote(&self.program.to_string_lossy())];
        words.extend(self.args.iter().map(|a| quote(a)));
        words.join(" ")
    }

    /// Replaces this process; returns only on failure.
    pub fn exec(&self) -> Error {
        let err = Command::new(&self.program)
            .args(&self.args)
            .env_remove(ENV_PASSWORD)
            .env_remove(ENV_ASKPASS)
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .exec();
        Error::new(
            Step::Handoff,
            Exit::OsErr,
            format!(
                "cannot start the configurator {}: {err}; check configurator.command in the bundle.",
                self.program.display()
            ),
        )
    }
}

/// Single-quotes a word for sh when it needs it.
fn quote(w: &str) -> String {
    if !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let h = Handoff::new(
            &[
                "/usr/bin/c".into(),
                "--x=1".into(),
                "it's".into(),
                "".into(),
            ],
            Path::new("/r"),
            vec![],
        )
        .unwrap();
        assert_eq!(h.shell_line(), r"/r/usr/bin/c --x=1 'it'\''s' ''");
    }
}

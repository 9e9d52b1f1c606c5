//! Step 9: hand control to the configurator. The process is replaced by it
//! (exec), with the run's results in its environment; the device password
//! stays in the 0600 bundle file and our own secrets are removed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use url::Url;

use crate::bundle::{Bundle, Launch};
use crate::credentials::{ENV_ASKPASS, ENV_PASSWORD};
use crate::error::{Error, Exit, Result, Step};
use crate::progress::{self, Event};
use crate::report::say;
use crate::state::State;

/// What the configurator is started with.
pub(crate) struct Handoff {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl Handoff {
    /// The configurator's `command` from the bundle, its program taken
    /// below `root` like every path the run writes, and the environment
    /// that tells it what the run found: where the bundle and certificates
    /// are, which server answered.
    pub(crate) fn new(
        bundle: &Bundle,
        command: &Launch,
        server: &Url,
        root: &Path,
        state: &State,
        device_id: Option<&str>,
    ) -> Handoff {
        let device_id = bundle.device_id.as_deref().or(device_id);
        let config_url = bundle.config_url.clone();
        Handoff {
            program: command.program.under(root),
            args: command.args.clone(),
            env: vec![
                ("PRECONF_BUNDLE", state.bundle().display().to_string()),
                (
                    "PRECONF_DEVICE_ID",
                    device_id.unwrap_or_default().to_string(),
                ),
                ("PRECONF_CONFIG_URL", config_url.unwrap_or_default()),
                ("PRECONF_SERVER", server.to_string()),
                ("PRECONF_CERT_DIR", state.certs().display().to_string()),
                ("PRECONF_ROOT", root.display().to_string()),
            ],
        }
    }

    /// Tells the configurator where provisioning.agent.config is.
    pub(crate) fn with_agent_config(mut self, path: PathBuf) -> Handoff {
        self.env
            .push(("PRECONF_AGENT_CONFIG", path.display().to_string()));
        self
    }

    /// Starts the configurator in place of this process; with `no_exec`,
    /// returns its command line instead; with `beside`, starts it as a
    /// child and returns (`preconf listen` that goes on listening).
    pub(crate) fn start(&self, no_exec: bool, beside: bool) -> Result<String> {
        let line = self.shell_line();
        // The event names the program only: its arguments come from the
        // bundle and are not ours to report.
        let program = self.program.display();
        let what = if no_exec {
            say(
                Step::Handoff,
                "not starting the configurator (--no-exec); its command is on stdout",
            );
            format!("{program} is installed, not started (--no-exec)")
        } else {
            say(Step::Handoff, format!("starting {line}"));
            format!("starting {program}")
        };
        progress::event(Event::Handoff, what);
        // The last chance to deliver: after exec no sender is left.
        progress::flush();
        if no_exec {
            return Ok(line);
        }
        if beside {
            return self.spawn(line);
        }
        Err(self.exec())
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args)
            .env_remove(ENV_PASSWORD)
            .env_remove(ENV_ASKPASS)
            .envs(self.env.iter().map(|(k, v)| (*k, v)));
        c
    }

    /// Starts the configurator as a child, reaped by a thread that says
    /// how it ended.
    fn spawn(&self, line: String) -> Result<String> {
        let mut child = self.command().spawn().map_err(|e| self.failed(&e))?;
        let shown = line.clone();
        std::thread::spawn(move || {
            let how = match child.wait() {
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            };
            say(
                Step::Handoff,
                format!("the configurator {shown} ended: {how}"),
            );
        });
        Ok(line)
    }

    /// The command line as a shell would take it.
    fn shell_line(&self) -> String {
        let mut words = vec![quote(&self.program.to_string_lossy())];
        words.extend(self.args.iter().map(|a| quote(a)));
        words.join(" ")
    }

    /// Replaces this process; returns only on failure.
    fn exec(&self) -> Error {
        self.failed(&self.command().exec())
    }

    fn failed(&self, err: &std::io::Error) -> Error {
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
        let h = Handoff {
            program: "/r/usr/bin/c".into(),
            args: vec!["--x=1".into(), "it's".into(), "".into()],
            env: vec![],
        };
        assert_eq!(h.shell_line(), r"/r/usr/bin/c --x=1 'it'\''s' ''");
    }
}

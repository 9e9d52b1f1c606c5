//! Step 5: the login and password, from the terminal, an askpass helper or
//! the environment. Never from argv, where any user could read them.

use std::fmt;
use std::process::{Command, Stdio};

use crate::error::{Error, Exit, Result, Step};
use crate::prompt::{Terminal, unanswerable};

pub(crate) const ENV_PASSWORD: &str = "PRECONF_PASSWORD";
pub(crate) const ENV_ASKPASS: &str = "PRECONF_ASKPASS";

/// How many times a refused login is asked again, in all.
pub(crate) const TRIES: u32 = 3;

pub(crate) struct Credentials {
    pub(crate) login: String,
    pub(crate) password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PasswordSource {
    /// `PRECONF_PASSWORD`: one fixed value, so a refused login is final.
    Env(String),
    /// `PRECONF_ASKPASS`: a program, asked anew on each try.
    Askpass(String),
    Terminal,
}

impl PasswordSource {
    pub(crate) fn from_env() -> PasswordSource {
        if let Some(p) = std::env::var_os(ENV_PASSWORD) {
            return PasswordSource::Env(p.to_string_lossy().into_owned());
        }
        match std::env::var(ENV_ASKPASS) {
            Ok(prog) if !prog.is_empty() => PasswordSource::Askpass(prog),
            _ => PasswordSource::Terminal,
        }
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            PasswordSource::Env(_) => ENV_PASSWORD,
            PasswordSource::Askpass(_) => ENV_ASKPASS,
            PasswordSource::Terminal => "the terminal",
        }
    }

    /// Whether asking again can give a different answer.
    pub(crate) fn can_retry(&self) -> bool {
        !matches!(self, PasswordSource::Env(_))
    }
}

/// Asks for credentials, once per try.
pub(crate) struct Asker {
    pub(crate) source: PasswordSource,
    login: Option<String>,
    pub(crate) tries: u32,
}

impl Asker {
    pub(crate) fn new(source: PasswordSource, login: Option<String>) -> Asker {
        Asker {
            source,
            login,
            tries: 0,
        }
    }

    /// Credentials for `server`. A typed login is asked again on each try,
    /// since it may be the typo.
    pub(crate) fn ask(&mut self, server: &str, term: &mut Option<Terminal>) -> Result<Credentials> {
        self.tries += 1;
        let login = match &self.login {
            Some(l) => l.clone(),
            None => self.ask_login(server, term)?,
        };
        let prompt = format!("Password for {login} at {server}: ");
        let password = match &self.source {
            PasswordSource::Env(p) => p.clone(),
            PasswordSource::Askpass(prog) => askpass(prog, &prompt)?,
            PasswordSource::Terminal => terminal(term)?
                .password(&prompt)
                .map_err(|e| tty_error(e.to_string()))?,
        };
        Ok(Credentials { login, password })
    }

    fn ask_login(&self, server: &str, term: &mut Option<Terminal>) -> Result<String> {
        let prompt = format!("Login for {server}: ");
        let login = match (&self.source, term.as_mut()) {
            (_, Some(t)) => t.ask(&prompt).map_err(|e| tty_error(e.to_string()))?,
            (PasswordSource::Askpass(prog), None) => askpass(prog, &prompt)?,
            _ => return Err(tty_error("no terminal to ask the login on".into())),
        };
        if login.is_empty() {
            return Err(Error::new(
                Step::Credentials,
                Exit::NoPerm,
                "no login was given; pass --user NAME or type it at the prompt.",
            ));
        }
        Ok(login)
    }
}

fn terminal(term: &mut Option<Terminal>) -> Result<&mut Terminal> {
    term.as_mut()
        .ok_or_else(|| tty_error("no terminal to ask the password on".into()))
}

fn tty_error(what: String) -> Error {
    unanswerable(
        Step::Credentials,
        what,
        &format!(
            "run preconf on a terminal, or set {ENV_ASKPASS} (or {ENV_PASSWORD}) and --user for unattended runs"
        ),
    )
}

/// The ssh-askpass convention: the prompt is the argument, the answer stdout.
fn askpass(prog: &str, prompt: &str) -> Result<String> {
    let out = Command::new(prog)
        .arg(prompt)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::new(
                Step::Credentials,
                Exit::Config,
                format!("cannot run the {ENV_ASKPASS} program {prog}: {e}; check the variable."),
            )
        })?;
    if !out.status.success() {
        return Err(Error::new(
            Step::Credentials,
            Exit::NoPerm,
            format!(
                "the {ENV_ASKPASS} program {prog} failed ({}); no password was given.",
                out.status
            ),
        ));
    }
    let mut answer = String::from_utf8_lossy(&out.stdout).into_owned();
    while answer.ends_with(['\n', '\r']) {
        answer.pop();
    }
    Ok(answer)
}

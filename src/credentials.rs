//! Step 5: the login and password, asked of the person (terminal or
//! askpass helper) or taken from the environment. Never from argv, where
//! any user could read them.

use std::fmt;

pub(crate) use crate::ask::ENV_ASKPASS;
use crate::ask::{Person, Question};
use crate::error::{Error, Exit, Result, Step};

pub(crate) const ENV_PASSWORD: &str = "PRECONF_PASSWORD";

/// How many times a refused login is asked again, in all.
pub(crate) const TRIES: u32 = 3;

/// The way out when nobody can be asked.
const UNATTENDED: &str = "run preconf on a terminal, or set PRECONF_ASKPASS (or PRECONF_PASSWORD) and --user for unattended runs";

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
    /// The person, asked anew on each try.
    Person,
}

impl PasswordSource {
    pub(crate) fn from_env() -> PasswordSource {
        match std::env::var_os(ENV_PASSWORD) {
            Some(p) => PasswordSource::Env(p.to_string_lossy().into_owned()),
            None => PasswordSource::Person,
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

    /// Where the password came from, for the log line.
    pub(crate) fn describe(&self, person: &Person) -> String {
        match &self.source {
            PasswordSource::Env(_) => ENV_PASSWORD.to_string(),
            PasswordSource::Person => person.secret_source(),
        }
    }

    /// Credentials for `server`. A typed login is asked again on each try,
    /// since it may be the typo.
    pub(crate) fn ask(&mut self, server: &str, person: &mut Person) -> Result<Credentials> {
        self.tries += 1;
        let login = match &self.login {
            Some(l) => l.clone(),
            None => ask_login(server, person)?,
        };
        let password = match &self.source {
            PasswordSource::Env(p) => p.clone(),
            PasswordSource::Person => person.secret(&Question {
                step: Step::Credentials,
                text: &format!("Password for {login} at {server}: "),
                purpose: "ask the password",
                instead: UNATTENDED,
            })?,
        };
        Ok(Credentials { login, password })
    }
}

fn ask_login(server: &str, person: &mut Person) -> Result<String> {
    let login = person.ask(&Question {
        step: Step::Credentials,
        text: &format!("Login for {server}: "),
        purpose: "ask the login",
        instead: UNATTENDED,
    })?;
    if login.is_empty() {
        return Err(Error::new(
            Step::Credentials,
            Exit::NoPerm,
            "no login was given; pass --user NAME or type it at the prompt.",
        ));
    }
    Ok(login)
}

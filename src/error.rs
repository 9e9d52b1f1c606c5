//! The one error type of a run: which step failed, a sentence for the user,
//! and the sysexits(3) code the process ends with.

use std::fmt;

/// The steps of a run, named as they appear in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Usage,
    Settings,
    Link,
    Domain,
    Confirm,
    Discover,
    Guard,
    Credentials,
    Fetch,
    Bundle,
    Download,
    Install,
    Handoff,
    State,
    Status,
    Props,
    Reference,
    Listen,
    Deadline,
    Progress,
}

impl Step {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Usage => "usage",
            Step::Settings => "settings",
            Step::Link => "link",
            Step::Domain => "domain",
            Step::Confirm => "confirm",
            Step::Discover => "discover",
            Step::Guard => "guard",
            Step::Credentials => "credentials",
            Step::Fetch => "fetch",
            Step::Bundle => "bundle",
            Step::Download => "download",
            Step::Install => "install",
            Step::Handoff => "handoff",
            Step::State => "state",
            Step::Status => "status",
            Step::Props => "props",
            Step::Reference => "reference",
            Step::Listen => "listen",
            Step::Deadline => "deadline",
            Step::Progress => "progress",
        }
    }
}

/// Exit codes from sysexits(3), so scripts can tell "try later" from "fix it".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// A lookup found nothing (`props get`), as grep's 1.
    NotFound = 1,
    /// The command line was wrong.
    Usage = 64,
    /// Data from the server or a file was malformed or did not verify.
    DataErr = 65,
    /// An input file named by the user does not exist or cannot be read.
    NoInput = 66,
    /// A service (DNS record, server) is not there.
    Unavailable = 69,
    /// An operating system call failed (exec, spawn).
    OsErr = 71,
    /// A file could not be written.
    CantCreat = 73,
    /// A file could not be read.
    IoErr = 74,
    /// A temporary failure: running again later may work.
    TempFail = 75,
    /// Login refused, or the user declined.
    NoPerm = 77,
    /// The configuration (flags, settings files, certificates) is unusable.
    Config = 78,
}

#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) step: Step,
    pub(crate) exit: Exit,
    /// One sentence: what failed, on what, and what to do next.
    pub(crate) message: String,
}

impl Exit {
    /// Every code, for the test that holds the README's table to them.
    #[cfg(test)]
    const ALL: [Exit; 11] = [
        Exit::NotFound,
        Exit::Usage,
        Exit::DataErr,
        Exit::NoInput,
        Exit::Unavailable,
        Exit::OsErr,
        Exit::CantCreat,
        Exit::IoErr,
        Exit::TempFail,
        Exit::NoPerm,
        Exit::Config,
    ];
}

impl Error {
    pub(crate) fn new(step: Step, exit: Exit, message: impl Into<String>) -> Error {
        Error {
            step,
            exit,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Error {
        Error::new(Step::Usage, Exit::Usage, message)
    }

    pub(crate) fn code(&self) -> i32 {
        self.exit as i32
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step.name(), self.message)
    }
}

impl std::error::Error for Error {}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of exit codes lists exactly the codes there are.
    #[test]
    fn readme_lists_every_exit_code() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("| code | meaning |")
            .nth(1)
            .expect("the README has an exit code table");
        let mut listed: Vec<i32> = Vec::new();
        for line in table.lines().skip(2) {
            let Some(row) = line.strip_prefix("| ") else {
                break;
            };
            let codes = row.split(" |").next().unwrap_or_default();
            listed.extend(codes.split(", ").map(|c| c.trim().parse::<i32>().expect(c)));
        }
        let mut ours: Vec<i32> = Exit::ALL.iter().map(|&e| e as i32).collect();
        ours.push(0);
        listed.sort();
        ours.sort();
        assert_eq!(listed, ours);
    }
}

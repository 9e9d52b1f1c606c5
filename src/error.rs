//! The one error type of a run: which step failed, a sentence for the user,
//! and the sysexits(3) code the process ends with.

use std::fmt;

/// The steps of a run, named as they appear in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Usage,
    Settings,
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
    Deadline,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Usage => "usage",
            Step::Settings => "settings",
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
            Step::Deadline => "deadline",
        }
    }
}

/// Exit codes from sysexits(3), so scripts can tell "try later" from "fix it".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
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
    /// A file could not be created.
    CantCreat = 73,
    /// Reading or writing a file failed.
    IoErr = 74,
    /// A temporary failure: running again later may work.
    TempFail = 75,
    /// Login refused, or the user declined.
    NoPerm = 77,
    /// The configuration (flags, settings files, certificates) is unusable.
    Config = 78,
}

#[derive(Debug)]
pub struct Error {
    pub step: Step,
    pub exit: Exit,
    /// One sentence: what failed, on what, and what to do next.
    pub message: String,
}

impl Error {
    pub fn new(step: Step, exit: Exit, message: impl Into<String>) -> Error {
        Error {
            step,
            exit,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(Step::Usage, Exit::Usage, message)
    }

    pub fn code(&self) -> i32 {
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

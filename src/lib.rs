//! preconf: a tiny device preconfigurator. It learns the company domain
//! from DHCP, finds the configuration server by DNS SRV, logs in over
//! verified TLS, downloads and verifies the company's real configurator,
//! installs it and hands control to it.
//!
//! The modules follow a run: `domain`, `confirm`, `discover`, `guard`,
//! `credentials`, `fetch` and `bundle`, `download`, `install`, `handoff`,
//! tied together by `run`. Below them: `net` (DNS, HTTPS, trust: the wire),
//! `settings` (keys and their providers), `state` (the state directory
//! and atomic files) and `json` (a strict reader for documents from the
//! network). Neither `net` nor `state` knows the steps.

#![forbid(unsafe_code)]
// Everything but `main` is private to the crate, and says so.
#![deny(unreachable_pub)]

mod ask;
mod bundle;
mod cli;
mod clock;
mod confirm;
mod credentials;
mod deadline;
mod device;
mod discover;
mod domain;
mod download;
mod error;
mod fetch;
mod guard;
mod handoff;
mod install;
mod json;
mod link;
mod net;
mod open;
mod report;
mod run;
mod settings;
mod state;
mod status;

/// Entry points for the fuzz targets in `fuzz/`; only in builds with
/// `--cfg fuzzing`, which cargo-fuzz sets.
#[cfg(fuzzing)]
pub mod fuzz;

use std::ffi::OsString;

use cli::Command;
use error::Error;

// The public surface is `main`, below: the binary and nothing else calls
// into this crate (but the fuzz targets, in fuzzing builds).

/// The whole program: parses `args`, runs, and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    match dispatch(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("preconf: error: {e}");
            e.code()
        }
    }
}

fn dispatch(args: impl IntoIterator<Item = OsString>) -> Result<(), Error> {
    match cli::parse_args(args)? {
        Command::Help => print!("{}", cli::help()),
        Command::Version => println!("{}", cli::version()),
        Command::Status { layer, json } => {
            let s = settings::load(layer)?;
            status::show(&s, json)?;
        }
        Command::Run(layer) => {
            let s = settings::load(layer)?;
            finished(run::run(&s)?);
        }
        Command::Open { layer, doc } => {
            let s = settings::load(layer)?;
            finished(open::open(&s, &doc)?);
        }
    }
    Ok(())
}

/// What a run that did not exec the configurator says at the end.
fn finished(outcome: run::Outcome) {
    match outcome {
        run::Outcome::Installed(command) => println!("{command}"),
        run::Outcome::AlreadyProvisioned(r) => {
            eprintln!(
                "preconf: this device was provisioned on {} from {}; nothing to do (pass --force to provision again, or see preconf status).",
                r.time, r.server
            );
        }
    }
}

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
//! network). Neither `net` nor `state` knows the steps. Beside them all,
//! `report` says each step on stderr and `progress` reports the run to a
//! log server.

#![forbid(unsafe_code)]
// Everything but `main` is private to the crate, and says so.
#![deny(unreachable_pub)]

mod ask;
mod base64;
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
mod listen;
mod net;
mod open;
mod progress;
mod props;
mod reference;
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
            let loaded = settings::load(layer)?;
            status::show(&loaded.settings, json)?;
        }
        Command::Props {
            layer,
            json,
            action,
        } => {
            let (mut loaded, problem) = settings::load_to_mend(layer)?;
            if let Some(e) = problem {
                eprintln!(
                    "preconf: warning: {e} (preconf props set or unset can mend it; runs stop here until then)"
                );
            }
            props::props(&mut loaded, json, action)?;
        }
        Command::Run(layer) => {
            let settings::Loaded {
                settings,
                mut store,
            } = settings::load(layer)?;
            let outcome = run::run(&settings, &mut store);
            finished(recorded(&mut store, outcome)?);
        }
        Command::Listen(layer) => finished(listen::listen(layer)?),
        Command::Open { layer, doc } => {
            let settings::Loaded {
                settings,
                mut store,
            } = settings::load(layer)?;
            let outcome = open::open(&settings, &mut store, &doc);
            finished(recorded(&mut store, outcome)?);
        }
    }
    Ok(())
}

/// Notes a failed run in the storage, for `preconf props` and the next
/// run, and in the progress log; a successful one noted itself before
/// handing over. Only on a device that has a state directory already: a
/// first run that fails (a link refused, a question cancelled) leaves
/// nothing behind, and says why on stderr. Either way the run's progress
/// log ends here.
pub(crate) fn recorded(
    store: &mut settings::Store,
    outcome: Result<run::Outcome, Error>,
) -> Result<run::Outcome, Error> {
    if let Err(e) = &outcome {
        progress::failed(e);
        if store.path().parent().is_some_and(|d| d.is_dir()) {
            store.record(e.code(), &e.to_string());
        }
    }
    progress::end();
    outcome
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

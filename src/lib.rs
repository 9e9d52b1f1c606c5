//! preconf: a tiny device preconfigurator. It learns the company domain
//! from DHCP, finds the configuration server by DNS SRV, logs in over
//! verified TLS, downloads and verifies the company's real configurator,
//! installs it and hands control to it.
//!
//! The modules follow a run: [`domain`], [`confirm`], [`discover`],
//! [`guard`], [`credentials`], [`fetch`] and [`bundle`], [`download`],
//! [`install`] (or [`apt`]), [`handoff`], tied together by [`run`]. Where settings come from is [`settings`]; where the
//! server URL comes from is [`discover::Source`].

#![forbid(unsafe_code)]
// Step functions return our one Error type, whose size is dominated by
// its message String; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

pub mod apt;
// nanoserde's derives expand to code that clippy::question_mark flags.
#[allow(clippy::question_mark)]
pub mod bundle;
pub mod cli;
pub mod confirm;
pub mod credentials;
pub mod deadline;
pub mod discover;
pub mod dns;
pub mod domain;
pub mod download;
pub mod error;
pub mod factory;
pub mod fetch;
pub mod files;
pub mod guard;
pub mod handoff;
pub mod http;
pub mod install;
pub mod keys;
pub mod prompt;
pub mod report;
pub mod run;
pub mod settings;
#[allow(clippy::question_mark)]
pub mod state;
pub mod status;
pub mod tls;
pub mod url;

use std::ffi::OsString;

use cli::Command;
use error::Error;

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
    match cli::parse(args)? {
        Command::Help => print!("{}", cli::help()),
        Command::Version => println!("{}", cli::version()),
        Command::Status { layer, json } => {
            let s = settings::load(layer)?;
            status::show(&s, json)?;
        }
        Command::Run(layer) => {
            let s = settings::load(layer)?;
            match run::run(&s)? {
                run::Outcome::Installed(command) => println!("{command}"),
                run::Outcome::AlreadyProvisioned(r) => {
                    eprintln!(
                        "preconf: this device was provisioned on {} from {}; nothing to do (pass --force to provision again, or see preconf status).",
                        r.time, r.server
                    );
                }
            }
        }
    }
    Ok(())
}

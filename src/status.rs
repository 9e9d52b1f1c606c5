//! `preconf status`: what the last run installed, from its receipt.

use nanoserde::SerJson;

use crate::error::{Error, Exit, Result, Step};
use crate::settings::Settings;
use crate::state::State;

pub fn show(s: &Settings, json: bool) -> Result<()> {
    let state = State::new(s.state_dir.clone());
    let receipt = state
        .read_receipt()
        .map_err(|e| Error::new(Step::Status, Exit::DataErr, format!("cannot read the receipt: {e}; run preconf --force to provision again.")))?
        .ok_or_else(|| {
            Error::new(
                Step::Status,
                Exit::NoInput,
                format!("this device is not provisioned (no receipt in {}); run preconf to provision it.", state.dir.display()),
            )
        })?;
    if json {
        println!("{}", receipt.serialize_json());
        return Ok(());
    }
    let p = &receipt.package;
    println!("provisioned  {}", receipt.time);
    if let Some(d) = &receipt.domain {
        println!("domain       {d}");
    }
    println!("server       {}", receipt.server);
    println!("bundle       {}", receipt.bundle_url);
    println!("package      {} ({} for {})", p.name, p.kind, p.arch);
    println!("from         {}", p.url);
    if let (Some(sha), Some(size)) = (&p.sha256, p.size) {
        println!("sha256       {sha} ({size} bytes)");
    }
    println!("command      {}", receipt.command.join(" "));
    println!("state        {}", state.dir.display());
    Ok(())
}

//! `preconf status`: what the last run installed, from its receipt.

use crate::error::{Error, Exit, Result, Step};
use crate::settings::Settings;
use crate::state::State;

pub(crate) fn show(s: &Settings, json: bool) -> Result<()> {
    let state = State::new(s.state_dir());
    let receipt = state.receipt()?.ok_or_else(|| {
        Error::new(
            Step::Status,
            Exit::NoInput,
            format!(
                "this device is not provisioned (no receipt in {}); run preconf to provision it.",
                state.dir.display()
            ),
        )
    })?;
    if json {
        println!("{}", receipt.to_json());
        return Ok(());
    }
    println!("provisioned  {}", receipt.time);
    if let Some(v) = receipt.via {
        println!("via          {}", v.name());
    }
    if let Some(chain) = &receipt.chain {
        println!("reference    from {}", chain.from);
        for (i, hop) in chain.hops.iter().enumerate() {
            println!("hop {:<8} {hop}", i + 1);
        }
    }
    if let Some(d) = &receipt.domain {
        println!("domain       {d}");
    }
    println!("server       {}", receipt.server);
    println!("bundle       {}", receipt.bundle_url);
    match &receipt.package {
        Some(p) => {
            let kind = p.package.package_type().name();
            println!("package      {} ({kind} for {})", p.name, p.arch);
            println!("from         {}", p.package.source());
            if let Some(v) = p.package.verified() {
                println!("sha256       {} ({} bytes)", v.sha256, v.size);
            }
        }
        None => println!("package      none: the configurator was on the device already"),
    }
    println!("command      {}", receipt.command.join(" "));
    println!("state        {}", state.dir.display());
    Ok(())
}

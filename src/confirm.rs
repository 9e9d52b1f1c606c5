//! Step 2: the person confirms the domain learned from the network, or
//! types the right one. `--yes` accepts without asking.

use crate::error::{Error, Exit, Result, Step};
use crate::net::dns;
use crate::prompt::{DomainAnswer, Terminal, terminal_failed, unanswerable};
use crate::report::say;

/// Confirms a domain learned from the network, or takes the one typed instead.
pub(crate) fn learned(domain: String, yes: bool, term: &mut Option<Terminal>) -> Result<String> {
    if yes {
        say(Step::Confirm, format!("{domain} (accepted by --yes)"));
        return Ok(domain);
    }
    let t = term.as_mut().ok_or_else(|| {
        unanswerable(
            Step::Confirm,
            format!("no terminal to confirm the domain {domain}"),
            "pass --yes to accept it, or --domain NAME",
        )
    })?;
    let tty = |e: std::io::Error| terminal_failed(Step::Confirm, e, "pass --yes or --domain NAME");
    let chosen = loop {
        match t.confirm_domain(&domain).map_err(tty)? {
            DomainAnswer::Yes => break domain,
            DomainAnswer::No => break type_domain(t)?,
            DomainAnswer::Other(d) => match dns::domain_name(&d) {
                Some(d) => break d,
                None => t
                    .tell(&format!("'{d}' is not a domain name such as example.com."))
                    .map_err(tty)?,
            },
        }
    };
    say(Step::Confirm, format!("{chosen} confirmed"));
    Ok(chosen)
}

/// Asks for the domain when the network gave none.
pub(crate) fn ask_domain(term: &mut Option<Terminal>) -> Result<String> {
    let t = term.as_mut().ok_or_else(|| {
        Error::new(Step::Domain, Exit::Unavailable, "no DNS domain was found in the DHCP leases or resolv.conf; pass --domain NAME (or --server URL).")
    })?;
    t.tell("No company domain was learned from the network.")
        .ok();
    let d = type_domain(t)?;
    say(Step::Confirm, format!("{d} typed"));
    Ok(d)
}

fn type_domain(t: &mut Terminal) -> Result<String> {
    loop {
        let typed = t
            .ask("Type your company domain (for example example.com): ")
            .map_err(|e| terminal_failed(Step::Confirm, e, "pass --domain NAME"))?;
        match dns::domain_name(&typed) {
            Some(d) => return Ok(d),
            None => t
                .tell(&format!(
                    "'{typed}' is not a domain name such as example.com."
                ))
                .ok(),
        };
    }
}

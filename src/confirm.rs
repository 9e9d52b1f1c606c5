//! Step 2: the person confirms the domain learned from the network, or
//! types the right one. `--yes` accepts without asking.

use crate::ask::{Person, Question};
use crate::error::{Error, Exit, Result, Step};
use crate::net::dns;
use crate::report::say;

/// Wrong answers in a row before giving up: a person fixes a typo in one
/// or two, a misconfigured helper that answers the same forever never does.
const TRIES: usize = 5;

/// Confirms a domain learned from the network, or takes the one typed instead.
pub(crate) fn learned(domain: String, yes: bool, person: &mut Person) -> Result<String> {
    if yes {
        say(Step::Confirm, format!("{domain} (accepted by --yes)"));
        return Ok(domain);
    }
    let text = format!("Is your company domain {domain}? [Y/n or type another] ");
    let purpose = format!("confirm the domain {domain}");
    let q = Question {
        step: Step::Confirm,
        text: &text,
        purpose: &purpose,
        instead: "pass --yes to accept it, or --domain NAME",
    };
    for _ in 0..TRIES {
        let a = person.ask(&q)?;
        let chosen = match a.to_ascii_lowercase().as_str() {
            "" | "y" | "yes" => Some(domain.clone()),
            "n" | "no" => Some(type_domain(person)?),
            _ => valid(&a, person),
        };
        if let Some(chosen) = chosen {
            say(Step::Confirm, format!("{chosen} confirmed"));
            return Ok(chosen);
        }
    }
    Err(too_many())
}

/// Asks for the domain when the network gave none.
pub(crate) fn ask_domain(person: &mut Person) -> Result<String> {
    if !person.can_ask() {
        return Err(Error::new(
            Step::Domain,
            Exit::Unavailable,
            "no DNS domain was found in the DHCP leases or resolv.conf; pass --domain NAME (or --server URL).",
        ));
    }
    person.tell("No company domain was learned from the network.");
    let d = type_domain(person)?;
    say(Step::Confirm, format!("{d} typed"));
    Ok(d)
}

fn type_domain(person: &mut Person) -> Result<String> {
    let q = Question {
        step: Step::Confirm,
        text: "Type your company domain (for example example.com): ",
        purpose: "ask for the domain",
        instead: "pass --domain NAME",
    };
    for _ in 0..TRIES {
        let typed = person.ask(&q)?;
        if let Some(d) = valid(&typed, person) {
            return Ok(d);
        }
    }
    Err(too_many())
}

/// The answer as a domain name, or None after telling the person why not.
fn valid(typed: &str, person: &mut Person) -> Option<String> {
    let d = dns::domain_name(typed);
    if d.is_none() {
        person.tell(&format!(
            "'{typed}' is not a domain name such as example.com."
        ));
    }
    d
}

fn too_many() -> Error {
    Error::new(
        Step::Confirm,
        Exit::Usage,
        format!("no domain name was given in {TRIES} tries; pass --domain NAME."),
    )
}

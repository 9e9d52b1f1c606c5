//! Step 4: a configuration server outside the confirmed domain is shown to
//! the person, who decides whether their login may go there. `--yes`
//! accepts; without a terminal and without `--yes`, it is refused.

use crate::ask::{Person, Question};
use crate::discover::Candidate;
use crate::error::{Error, Exit, Result, Step};
use crate::net::dns;
use crate::report::say;

/// Servers outside the confirmed domain get the person's say before any
/// credential goes to them.
pub(crate) fn check(
    cands: Vec<Candidate>,
    domain: Option<&str>,
    yes: bool,
    person: &mut Person,
    consent: &str,
) -> Result<Vec<Candidate>> {
    let Some(domain) = domain else {
        return Ok(cands);
    };
    let mut kept = Vec::new();
    for c in cands {
        if dns::is_within(c.host(), domain) {
            kept.push(c);
            continue;
        }
        let host = c.host().to_string();
        if yes {
            say(
                Step::Guard,
                format!("{host} is outside {domain}; accepted by --yes"),
            );
            kept.push(c);
            continue;
        }
        if !person.can_ask() {
            return Err(Error::new(
                Step::Guard,
                Exit::NoPerm,
                format!(
                    "the server {host} is outside your domain {domain} and there is no terminal or askpass helper to ask; pass --yes to accept it."
                ),
            ));
        }
        let text = format!("The configuration server {host} is outside {domain}. {consent}");
        let purpose = format!("accept {host}");
        let ok = person.yes_no(
            &Question {
                step: Step::Guard,
                text: &text,
                purpose: &purpose,
                instead: "pass --yes to accept servers outside your domain",
            },
            false,
        )?;
        if ok {
            say(Step::Guard, format!("{host} is outside {domain}; accepted"));
            kept.push(c);
        } else {
            say(Step::Guard, format!("{host} is outside {domain}; skipped"));
        }
    }
    if kept.is_empty() {
        return Err(Error::new(
            Step::Guard,
            Exit::NoPerm,
            format!(
                "no server left to try: every one is outside {domain} and was declined; check the domain or ask your IT admin."
            ),
        ));
    }
    Ok(kept)
}

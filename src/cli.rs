//! The command line: subcommands, and flags that are settings keys.
//!
//! Flags are not defined here: every `--name` is a settings [`Key`], so the
//! command line is simply the highest-ranked settings provider, and
//! `--help` is generated from that one table.

use std::ffi::OsString;

use crate::error::{Error, Result};
use crate::settings::{self, Entry, Key, Kind, Layer, Provider};

pub(crate) enum Command {
    Run(Layer),
    /// Provision from a link document: a path, a file:// or https:// URL.
    Open {
        layer: Layer,
        doc: String,
    },
    Status {
        layer: Layer,
        json: bool,
    },
    Help,
    Version,
}

pub(crate) fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    use lexopt::Arg::{Long, Short, Value as Word};

    let mut parser = lexopt::Parser::from_iter(args);
    let mut entries = Vec::new();
    let mut sub: Option<String> = None;
    let mut doc: Option<String> = None;
    let mut json = false;
    while let Some(arg) = parser.next().map_err(lexopt_error)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("json") if sub.as_deref() == Some("status") => json = true,
            Long(name) => {
                let name = name.to_string();
                let Some(key) = Key::from_name(&name) else {
                    return Err(Error::usage(format!(
                        "unknown option --{name}; see preconf --help."
                    )));
                };
                let value = match key.kind() {
                    Kind::Switch => "true".to_string(),
                    Kind::One(_) | Kind::Many(_) => {
                        let v = parser.value().map_err(lexopt_error)?;
                        v.into_string()
                            .map_err(|_| Error::usage(format!("--{name} needs a UTF-8 value.")))?
                    }
                };
                entries.push(Entry::text(key, value, None));
            }
            Short(c) => {
                return Err(Error::usage(format!(
                    "unknown option -{c}; see preconf --help."
                )));
            }
            Word(v) if sub.is_none() => {
                let v = v.to_string_lossy().into_owned();
                match v.as_str() {
                    "run" | "status" | "open" => sub = Some(v),
                    "help" => return Ok(Command::Help),
                    _ => {
                        return Err(Error::usage(format!(
                            "unknown command '{v}'; the commands are run, open and status."
                        )));
                    }
                }
            }
            Word(v) if sub.as_deref() == Some("open") && doc.is_none() => {
                let v = v.into_string().map_err(|_| {
                    Error::usage("the link document's name must be UTF-8 text.".to_string())
                })?;
                doc = Some(v);
            }
            Word(v) => {
                return Err(Error::usage(format!(
                    "unexpected argument '{}'; options take the form --name VALUE.",
                    v.to_string_lossy()
                )));
            }
        }
    }
    let layer = Layer {
        provider: Provider::CommandLine,
        entries,
    };
    Ok(match sub.as_deref() {
        Some("status") => Command::Status { layer, json },
        Some("open") => Command::Open {
            layer,
            doc: doc.ok_or_else(|| {
                Error::usage(
                    "open needs the link document: preconf open FILE or preconf open https://URL."
                        .to_string(),
                )
            })?,
        },
        _ => Command::Run(layer),
    })
}

fn lexopt_error(e: lexopt::Error) -> Error {
    Error::usage(format!("{e}; see preconf --help."))
}

/// Version, target, and what the vendor built in.
pub(crate) fn version() -> String {
    format!(
        "preconf {} ({})\nfactory defaults: {}\nembedded CA certificates: {}",
        env!("CARGO_PKG_VERSION"),
        settings::TARGET,
        settings::factory_defaults(),
        settings::factory_ca_count()
    )
}

pub(crate) fn help() -> String {
    let mut out = String::new();
    out.push_str(HELP_HEAD);
    let mut group = "";
    for &key in Key::ALL {
        if key.group() != group {
            group = key.group();
            out.push_str(&format!("\n{group}:\n"));
        }
        let name = key.name();
        let flag = match key.kind() {
            Kind::Switch => format!("--{name}"),
            Kind::One(v) => format!("--{name} {v}"),
            Kind::Many(v) => format!("--{name} {v}..."),
        };
        out.push_str(&format!("  {flag:<26}"));
        wrap_into(&mut out, key.help(), 28, 80);
    }
    out.push_str(HELP_TAIL);
    out
}

/// Word-wraps `text` to `width` columns, continuation lines indented by `indent`.
fn wrap_into(out: &mut String, text: &str, indent: usize, width: usize) {
    let mut col = indent;
    let mut first = true;
    for word in text.split_whitespace() {
        if !first && col + 1 + word.len() > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if !first {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.len();
        first = false;
    }
    out.push('\n');
}

const HELP_HEAD: &str = "\
preconf: get the company's configurator onto this device and hand over to it.

Usage:
  preconf [run] [OPTIONS]     provision this device
  preconf open DOC [OPTIONS]  provision it from a link document (a path, a
                              file:// or https:// URL), as a browser does
  preconf status [--json]     show what was installed, from the receipt
  preconf --help | --version

A run, one line per step on stderr:
  1. domain       learn the DNS domain from DHCP (lease files, resolv.conf)
  2. confirm      ask you to confirm it, or type another
  3. discover     look up SRV _maemo_autoconf._tcp.<domain> and its TXT path=
  4. guard        ask before talking to a server outside your domain
  5. credentials  ask for login and password
  6. fetch        get the bundle over verified TLS, trying each server in turn
  7. download     fetch the configurator package, check size and SHA-256
  8. install      install it (dpkg, or place the file), store certs and bundle
  9. handoff      write the receipt and exec the configurator
preconf open takes steps 1 to 5 from the link document instead: it shows the
server it names and asks \"Provision this device from HOST (DOMAIN)? [y/N]\",
then logs in with the document's one-time token (or asks the login).
";

const HELP_TAIL: &str = "
Examples:
  preconf --ca /etc/preconf/corp-ca.pem
      learn the domain, ask, discover, log in, install, hand over
  preconf --domain corp.example.com --user jdoe --ca corp-ca.pem
      skip the DHCP lookup and the login question
  preconf --server https://cfg.corp.example.com/bundle --ca corp-ca.pem
      skip discovery altogether
  PRECONF_ASKPASS=/usr/bin/ssh-askpass preconf --user jdoe --yes --ca corp-ca.pem
      unattended but for the password
  preconf open ~/Downloads/corp.maemo-autoconf --ca corp-ca.pem
      provision from a link document the IT department sent

Settings files:
  Every option is also a key of ROOT/etc/preconf/*.conf, one key=value per line
  (a switch is key=true or key=false), and of the factory defaults built into
  this binary (see --version). The command line wins over the files, the files
  over the factory defaults.

Environment:
  PRECONF_PASSWORD        the password, for unattended runs (never pass it as an argument)
  PRECONF_ASKPASS         program that asks the questions when there is no terminal
                          (and the password always): the question is its argument,
                          the answer its output, a non-zero exit cancels; without
                          it, zenity or ssh-askpass on PATH is used
Neither reaches the package tools or the configurator.

The configurator is started with PRECONF_BUNDLE, PRECONF_DEVICE_ID,
PRECONF_CONFIG_URL, PRECONF_SERVER, PRECONF_CERT_DIR and PRECONF_ROOT set.

Exit codes: 0 done, 64 usage, 65 bad data, 66 missing input file, 69 service
not found, 71 exec failed, 73 cannot write a file, 74 cannot read one,
75 temporary failure (try again), 77 login refused or declined, 78 bad
configuration.
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Value;

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("preconf")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn flags_become_pairs() {
        let Command::Run(l) =
            parse_args(args(&["--dns", "127.0.0.1", "--yes", "--ca=a.pem"])).unwrap()
        else {
            panic!("expected run")
        };
        let got: Vec<(Key, Value)> = l.entries.into_iter().map(|e| (e.key, e.value)).collect();
        let text = |v: &str| Value::Text(v.into());
        assert_eq!(
            got,
            vec![
                (Key::Dns, text("127.0.0.1")),
                (Key::Yes, text("true")),
                (Key::Ca, text("a.pem")),
            ]
        );
    }

    #[test]
    fn status_takes_json() {
        assert!(matches!(
            parse_args(args(&["status", "--json"])).unwrap(),
            Command::Status { json: true, .. }
        ));
        assert!(parse_args(args(&["--json"])).is_err());
    }

    #[test]
    fn unknown_flag_is_usage_error() {
        let e = parse_args(args(&["--password", "x"])).err().unwrap();
        assert_eq!(e.code(), 64);
    }

    #[test]
    fn help_lists_every_key() {
        let h = help();
        for k in Key::ALL {
            assert!(h.contains(&format!("--{}", k.name())), "{}", k.name());
        }
    }
}

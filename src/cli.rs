//! The command line: subcommands, and flags that are settings keys.
//!
//! Flags are not defined here: every `--name` is a settings [`Key`], so the
//! command line is simply the highest-ranked settings provider, and
//! `--help` is generated from that one table.

use std::ffi::OsString;
use std::io::Read;

use crate::error::{Error, Result};
use crate::settings::{self, Entry, Key, Kind, Layer, Name, Provider, Value};

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
    /// Show or edit the provisioning dictionary.
    Props {
        layer: Layer,
        json: bool,
        action: Props,
    },
    /// Serve the push endpoint and answer discovery probes.
    Listen(Layer),
    Help,
    Version,
}

/// What `preconf props` does.
pub(crate) enum Props {
    /// Every key, its value and provider.
    Show,
    Get(String),
    /// `KEY=VALUE` or `KEY@FILE` assignments, stored together.
    Set(Vec<Assignment>),
    Unset(Vec<String>),
    /// Asks for the push password and stores its hash.
    SetPushPassword,
}

/// `KEY=VALUE`, `KEY@FILE` or `KEY@-` (standard input), read and checked.
pub(crate) struct Assignment {
    pub(crate) name: Name,
    pub(crate) value: Value,
}

/// A file given with `KEY@FILE`: certificates, an agent configuration.
const MAX_ASSIGNED: u64 = 256 * 1024;

impl Assignment {
    pub(crate) fn parse(arg: &str) -> Result<Assignment> {
        // Named by its key alone: the value may be a secret.
        let usage = |why: String| Error::usage(format!("--set {}: {why}.", key_of(arg)));
        let Some(at) = arg.find(['=', '@']) else {
            return Err(usage(
                "write KEY=VALUE, or KEY@FILE for a file's bytes".into(),
            ));
        };
        let (key, rest) = (&arg[..at], &arg[at + 1..]);
        let name = Name::parse(key).map_err(usage)?;
        let value = if arg.as_bytes()[at] == b'=' {
            if settings::is_secret(name.as_str()) {
                return Err(usage(format!(
                    "{key} is a secret, and a command line is visible to every process; write {key}@FILE, or {key}@- to read it from standard input"
                )));
            }
            Value::Text(rest.to_string())
        } else {
            Value::Bytes(
                read_assigned(rest).map_err(|e| usage(format!("cannot read {rest} ({e})")))?,
            )
        };
        Ok(Assignment { name, value })
    }
}

fn read_assigned(path: &str) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let limit = MAX_ASSIGNED + 1;
    if path == "-" {
        std::io::stdin().take(limit).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(path)?
            .take(limit)
            .read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > MAX_ASSIGNED {
        return Err(std::io::Error::other(format!(
            "it is larger than {MAX_ASSIGNED} bytes"
        )));
    }
    Ok(bytes)
}

pub(crate) fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    use lexopt::Arg::{Long, Short, Value as Word};

    let mut parser = lexopt::Parser::from_iter(args);
    let mut entries = Vec::new();
    let mut sub: Option<String> = None;
    let mut doc: Option<String> = None;
    let mut words: Vec<String> = Vec::new();
    let mut json = false;
    while let Some(arg) = parser.next().map_err(lexopt_error)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("json") if matches!(sub.as_deref(), Some("status" | "props")) => json = true,
            Long("set") => {
                let v = parser.value().map_err(lexopt_error)?;
                let v = v
                    .into_string()
                    .map_err(|_| Error::usage("--set needs UTF-8 text.".to_string()))?;
                let a = Assignment::parse(&v)?;
                entries.push(Entry::new(
                    a.name,
                    a.value,
                    Some(format!("(--set {})", key_of(&v))),
                ));
            }
            Long(name) => {
                let name = name.to_string();
                let Some(key) = Key::from_name(&name).filter(|k| k.flag() == Some(name.as_str()))
                else {
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
                entries.push(Entry::text(key, value));
            }
            Short(c) => {
                return Err(Error::usage(format!(
                    "unknown option -{c}; see preconf --help."
                )));
            }
            Word(v) if sub.is_none() => {
                let v = v.to_string_lossy().into_owned();
                match v.as_str() {
                    "run" | "status" | "open" | "props" | "listen" => sub = Some(v),
                    "help" => return Ok(Command::Help),
                    _ => {
                        return Err(Error::usage(format!(
                            "unknown command '{v}'; the commands are run, open, listen, status and props."
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
            Word(v) if sub.as_deref() == Some("props") => {
                let v = v
                    .into_string()
                    .map_err(|_| Error::usage("props takes UTF-8 keys and values.".to_string()))?;
                words.push(v);
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
        Some("props") => Command::Props {
            layer,
            json,
            action: props_action(words)?,
        },
        Some("open") => Command::Open {
            layer,
            doc: doc.ok_or_else(|| {
                Error::usage(
                    "open needs the link document: preconf open FILE or preconf open https://URL."
                        .to_string(),
                )
            })?,
        },
        Some("listen") => Command::Listen(layer),
        _ => Command::Run(layer),
    })
}

/// The key of a `--set` argument, for messages that must not repeat a
/// value.
fn key_of(arg: &str) -> &str {
    arg.split(['=', '@']).next().unwrap_or(arg)
}

fn props_action(words: Vec<String>) -> Result<Props> {
    let mut words = words.into_iter();
    let action = words.next();
    let rest: Vec<String> = words.collect();
    let needs = |what: &str| Error::usage(format!("preconf props {what}."));
    Ok(match action.as_deref() {
        None => Props::Show,
        Some("get") => match <[String; 1]>::try_from(rest) {
            Ok([key]) => Props::Get(key),
            Err(_) => return Err(needs("get takes one KEY")),
        },
        Some("set") if !rest.is_empty() => Props::Set(
            rest.iter()
                .map(|a| Assignment::parse(a))
                .collect::<Result<_>>()?,
        ),
        Some("set") => return Err(needs("set takes KEY=VALUE or KEY@FILE, one or more")),
        Some("unset") if !rest.is_empty() => Props::Unset(rest),
        Some("unset") => return Err(needs("unset takes one KEY or more")),
        Some("set-push-password") if rest.is_empty() => Props::SetPushPassword,
        Some("set-push-password") => {
            return Err(needs(
                "set-push-password takes nothing: it asks for the password, or reads it from standard input",
            ));
        }
        Some(other) => {
            return Err(Error::usage(format!(
                "unknown props action '{other}'; it is get, set, unset or set-push-password (or nothing, to show every key)."
            )));
        }
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
        let flag = match (key.flag(), key.kind()) {
            (Some(f), Kind::Switch) => format!("--{f}"),
            (Some(f), Kind::One(v)) => format!("--{f} {v}"),
            (Some(f), Kind::Many(v)) => format!("--{f} {v}..."),
            (None, Kind::Switch) => format!("{}=true|false", key.name()),
            (None, Kind::One(v) | Kind::Many(v)) => format!("{}={v}", key.name()),
        };
        if flag.len() > 25 {
            out.push_str(&format!("  {flag}\n{:28}", ""));
        } else {
            out.push_str(&format!("  {flag:<26}"));
        }
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
  preconf props [--json]      show the provisioning dictionary: each key, its
                              value (secrets masked) and where it comes from
  preconf props get KEY | set KEY=VALUE|KEY@FILE... | unset KEY...
                              read or edit the stored dictionary
  preconf props set-push-password
                              set the password a backend's push must give
  preconf listen [OPTIONS]    wait for a backend to push a provisioning.reference
                              (POST /rminit), answer multicast discovery
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
With a provisioning.reference (from any provider), steps 1 to 4 are skipped:
the bundle comes from there, logging in only if the server asks, and a bundle
that names no configurator may point to the next reference.
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
  preconf --set provisioning.reference=https://10.0.0.5:8443/prvsetup --ca corp-ca.pem
      provision from the company's backend, without DNS
  preconf props set provisioning.spid=ACME-000123
      store the device id for every later run; preconf props shows it
  preconf props set-push-password && preconf listen --client-cert dev.pem --client-key dev.key
      let the company's backend push a provisioning.reference over HTTPS

The provisioning dictionary:
  Every option is a key (provisioning.spid for --device-id), and --set KEY=VALUE
  (or KEY@FILE for a file's bytes) sets any key. Providers, highest first; the
  highest that has a key decides it:
    command line      flags and --set
    push              ROOT/var/lib/preconf/pushed: what a backend pushed to
                      preconf listen (POST /rminit)
    environment       PROVISIONING_SPID for provisioning.spid: every dotted key
                      of the table, and those of prm.env.provider.push.starting.with
    stored            ROOT/var/lib/preconf/storage: preconf props set, and the
                      properties a server's bundle hands over
    media             props.txt in the directories of prm.media.dirs
    file              ROOT/etc/preconf/props.txt ([TEXT] key=value lines,
                      [BINARY] key=file lines), loaded once
    settings          ROOT/etc/preconf/*.conf, key=value lines, later files first
    factory           built into this binary (see --version)
  A switch is key=true or key=false. Keys with a dot that preconf does not use
  (prm.name, corp.site) are kept as data.

Environment:
  PRECONF_PASSWORD        the password, for unattended runs (never pass it as an argument)
  PRECONF_ASKPASS         program that asks the questions when there is no terminal
                          (and the password always): the question is its argument,
                          the answer its output, a non-zero exit cancels; without
                          it, zenity or ssh-askpass on PATH is used
Neither reaches the package tools or the configurator.

The configurator is started with PRECONF_BUNDLE, PRECONF_DEVICE_ID,
PRECONF_CONFIG_URL, PRECONF_SERVER, PRECONF_CERT_DIR and PRECONF_ROOT set, and
PRECONF_AGENT_CONFIG when the dictionary has provisioning.agent.config.

Exit codes: 0 done, 1 props get found no value, 64 usage, 65 bad data, 66 missing input file, 69 service
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
        let got: Vec<(Name, Value)> = l.entries.into_iter().map(|e| (e.name, e.value)).collect();
        let text = |k: Key, v: &str| (Name::Known(k), Value::Text(v.into()));
        assert_eq!(
            got,
            vec![
                text(Key::Dns, "127.0.0.1"),
                text(Key::Yes, "true"),
                text(Key::Ca, "a.pem"),
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
            let shown = match k.flag() {
                Some(f) => format!("--{f}"),
                None => format!("  {}=", k.name()),
            };
            assert!(h.contains(&shown), "{}", k.name());
        }
    }

    #[test]
    fn set_and_props() {
        let Command::Run(l) =
            parse_args(args(&["--set", "prm.name=dev 1", "--device-id", "D"])).unwrap()
        else {
            panic!("expected run")
        };
        assert_eq!(l.entries[0].name, Name::Other("prm.name".into()));
        assert_eq!(l.entries[0].value, Value::Text("dev 1".into()));
        assert_eq!(l.entries[1].name, Name::Known(Key::DeviceId));
        // Dotted keys are not flags, and secrets never go in argv.
        assert!(parse_args(args(&["--provisioning.spid", "x"])).is_err());
        let e = parse_args(args(&["--set", "provisioning.rsh.secret=x"]))
            .err()
            .unwrap();
        assert!(e.message.contains("@-"), "{}", e.message);
        assert!(matches!(
            parse_args(args(&["props", "--json"])).unwrap(),
            Command::Props {
                json: true,
                action: Props::Show,
                ..
            }
        ));
        assert!(matches!(
            parse_args(args(&["props", "unset", "a.b", "c.d"])).unwrap(),
            Command::Props { action: Props::Unset(k), .. } if k.len() == 2
        ));
        assert!(parse_args(args(&["props", "get"])).is_err());
        assert!(parse_args(args(&["props", "frob"])).is_err());
    }
}

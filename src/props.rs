//! `preconf props`: the provisioning dictionary as a run would see it,
//! and edits of its stored provider.

use std::io::{Read, Write};

use data_encoding::BASE64;

use crate::cli::{Assignment, Props};
use crate::error::{Error, Exit, Result, Step};
use crate::json;
use crate::listen::auth::PasswordHash;
use crate::settings::{Entry, Key, Loaded, Name, Provider, Scope, Value, is_secret};
use crate::state::storage::LastRun;

pub(crate) fn props(loaded: &mut Loaded, json: bool, action: Props) -> Result<()> {
    match action {
        Props::Show if json => println!("{}", as_json(loaded)),
        Props::Show => print!("{}", as_text(loaded)),
        Props::Get(key) => get(loaded, &key)?,
        Props::Set(assignments) => set(loaded, assignments)?,
        Props::Unset(keys) => unset(loaded, &keys)?,
        Props::SetPushPassword => set_push_password(loaded)?,
    }
    Ok(())
}

/// One line per key: name, value(s), provider.
fn as_text(loaded: &Loaded) -> String {
    let rows: Vec<(String, String, String)> = loaded
        .store
        .dictionary()
        .iter()
        .map(|(name, provider, entries)| {
            let values: Vec<String> = entries
                .iter()
                .map(|e| e.value.shown(name.as_str()))
                .collect();
            (name.as_str().to_string(), values.join(", "), from(provider))
        })
        .collect();
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let value_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).min(40);
    let mut out = String::new();
    for (name, value, provider) in rows {
        out.push_str(&format!(
            "{name:<width$}  {value:<value_width$}  {provider}\n"
        ));
    }
    if let Some(run) = &loaded.store.stored.last_run {
        let outcome = match run.exit {
            0 => "provisioned".to_string(),
            code => format!("failed with exit {code}"),
        };
        out.push_str(&format!(
            "\nlast run {}: {outcome}: {}\n",
            run.time, run.message
        ));
    }
    out
}

/// `stored (/var/lib/preconf/storage)`.
fn from(p: &Provider) -> String {
    match p.path() {
        Some(path) => format!("{} ({})", p.kind(), path.display()),
        None => p.kind().to_string(),
    }
}

fn as_json(loaded: &Loaded) -> String {
    let keys: Vec<String> = loaded
        .store
        .dictionary()
        .iter()
        .map(|(name, provider, entries)| {
            let values: Vec<String> = entries.iter().map(|e| value_json(name, e)).collect();
            let source = provider.path().map_or("null".to_string(), |p| {
                json::quote(&p.display().to_string())
            });
            format!(
                "{{\"key\":{},\"values\":[{}],\"provider\":\"{}\",\"source\":{source}}}",
                json::quote(name.as_str()),
                values.join(","),
                provider.kind()
            )
        })
        .collect();
    let last_run = loaded
        .store
        .stored
        .last_run
        .as_ref()
        .map_or("null".to_string(), LastRun::to_json);
    format!("{{\"keys\":[{}],\"last_run\":{last_run}}}", keys.join(","))
}

/// `{"text":…}`, `{"base64":…}`, or `{"masked":true}` for a secret.
fn value_json(name: &Name, e: &Entry) -> String {
    match &e.value {
        _ if is_secret(name.as_str()) => "{\"masked\":true}".to_string(),
        Value::Text(t) => format!("{{\"text\":{}}}", json::quote(t)),
        Value::Bytes(b) => format!("{{\"base64\":\"{}\"}}", BASE64.encode(b)),
    }
}

/// The value of one key: text as a line, bytes as they are, a secret
/// masked. A key no provider has ends in exit 1, as a lookup that found
/// nothing does.
fn get(loaded: &Loaded, key: &str) -> Result<()> {
    let name = Name::parse(key).map_err(|why| Error::usage(format!("props get: {why}.")))?;
    let found = loaded
        .store
        .dictionary()
        .iter()
        .find(|(n, _, _)| **n == name);
    let Some((_, _, entries)) = found else {
        return Err(Error::new(
            Step::Props,
            Exit::NotFound,
            format!("{key} has no value in any provider; see preconf props."),
        ));
    };
    let mut out = std::io::stdout().lock();
    for e in entries {
        match &e.value {
            Value::Bytes(b) if !is_secret(key) => out.write_all(b),
            v => writeln!(out, "{}", v.shown(key)),
        }
        .map_err(|e| {
            Error::new(
                Step::Props,
                Exit::IoErr,
                format!("cannot write the value: {e}."),
            )
        })?;
    }
    Ok(())
}

/// Stores every assignment, or none: they are checked together, as the
/// next run will read them.
fn set(loaded: &mut Loaded, assignments: Vec<Assignment>) -> Result<()> {
    for a in &assignments {
        settable(&a.name)?;
    }
    let names: Vec<String> = assignments
        .iter()
        .map(|a| a.name.as_str().to_string())
        .collect();
    loaded.store.change(|stored| {
        for a in assignments {
            stored.set(a.name.as_str(), a.value);
        }
    })?;
    eprintln!(
        "preconf: props: stored {} in {} (update count {}).",
        names.join(", "),
        loaded.store.path().display(),
        loaded.store.stored.update_count
    );
    Ok(())
}

fn unset(loaded: &mut Loaded, keys: &[String]) -> Result<()> {
    let mut names = Vec::new();
    for key in keys {
        let name = Name::parse(key).map_err(|why| Error::usage(format!("props unset: {why}.")))?;
        settable(&name)?;
        names.push(name);
    }
    let mut removed = Vec::new();
    loaded.store.change(|stored| {
        for n in &names {
            if stored.unset(n.as_str()) {
                removed.push(n.as_str().to_string());
            }
        }
    })?;
    let all: Vec<&str> = names.iter().map(Name::as_str).collect();
    let unpushed = loaded.store.unset_pushed(&all)?;
    if !unpushed.is_empty() {
        let pushed = loaded.store.path().with_file_name(crate::settings::PUSHED);
        eprintln!(
            "preconf: props: removed {} from {}, what a backend pushed.",
            unpushed.join(", "),
            pushed.display()
        );
    }
    for n in &names {
        if !removed.iter().chain(&unpushed).any(|r| r == n.as_str()) {
            eprintln!(
                "preconf: props: {} is not stored; nothing to unset.",
                n.as_str()
            );
        }
    }
    if !removed.is_empty() {
        eprintln!(
            "preconf: props: removed {} from {} (update count {}).",
            removed.join(", "),
            loaded.store.path().display(),
            loaded.store.stored.update_count
        );
    }
    Ok(())
}

/// A push password shorter than this is refused: the endpoint may face a
/// whole network.
const MIN_PUSH_PASSWORD: usize = 8;

/// Asks for the push password (twice, on a terminal; else the first line
/// of standard input) and stores only its salted hash.
fn set_push_password(loaded: &mut Loaded) -> Result<()> {
    let password = new_password()?;
    if password.chars().count() < MIN_PUSH_PASSWORD {
        return Err(Error::usage(format!(
            "props set-push-password: the password must have at least {MIN_PUSH_PASSWORD} characters."
        )));
    }
    let hash = PasswordHash::new(&password).map_err(|e| {
        Error::new(
            Step::Props,
            Exit::OsErr,
            format!("cannot draw a random salt ({e}); try again."),
        )
    })?;
    let name = Key::PushPasswordHash.name();
    let settings = loaded
        .store
        .change(|stored| stored.set(name, Value::Text(hash.text())))?;
    eprintln!(
        "preconf: props: the push password is stored, as a salted PBKDF2 hash, in {}; a push logs in as {}.",
        loaded.store.path().display(),
        settings.listen.user
    );
    if let Some(p) = loaded.store.dictionary().provider(Key::PushPasswordHash) {
        if !matches!(p, Provider::Stored { .. }) {
            eprintln!("preconf: props: warning: {name} from {p} wins over the stored one.");
        }
    }
    Ok(())
}

fn new_password() -> Result<String> {
    use std::io::{BufRead, IsTerminal};
    let failed = |e: std::io::Error| {
        Error::new(
            Step::Props,
            Exit::IoErr,
            format!("cannot read the password ({e})."),
        )
    };
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New push password: ").map_err(failed)?;
        let again = rpassword::prompt_password("The same again: ").map_err(failed)?;
        if first != again {
            return Err(Error::new(
                Step::Props,
                Exit::NoPerm,
                "the two passwords differ; nothing was stored, run it again.",
            ));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(1024)
        .read_line(&mut line)
        .map_err(failed)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Whether the stored provider may hold `name`.
fn settable(name: &Name) -> Result<()> {
    let Name::Known(key) = name else {
        return Ok(());
    };
    let why = match key.scope() {
        Scope::Device | Scope::Server | Scope::Verified => return Ok(()),
        Scope::Kept => "is kept by preconf and cannot be set".to_string(),
        Scope::Root | Scope::Boot => format!(
            "decides where the dictionary is read from, so it is not stored; pass --set {}=… on the command line, or write it in ROOT/etc/preconf/*.conf",
            key.name()
        ),
    };
    Err(Error::usage(format!("props: {} {why}.", key.name())))
}

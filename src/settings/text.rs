//! The text of settings files, factory properties and `props.txt`: `#`
//! comments, blank lines ignored, `key=value` lines; a repeatable key on
//! several lines; a switch as `key=true` or `key=false`. `props.txt` also
//! has the OSGi agent's sections: `[TEXT]` lines are values, `[BINARY]`
//! lines name the file that holds the value's bytes.
//!
//! `build.rs` compiles this file too, against its own `Key`, to check a
//! vendor's factory properties with the same rules.

use super::Key;

/// How a key takes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A switch: `true` or `false`; as a flag, present means true.
    Switch,
    /// One value; a later one replaces it.
    One(&'static str),
    /// Repeatable: every value is kept, in order.
    Many(&'static str),
}

/// A key as providers name it: one of the table's, or a key of the
/// provisioning dictionary that preconf carries without using (`prm.name`,
/// a company's own `corp.site`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Name {
    Known(Key),
    Other(String),
}

impl Name {
    /// Checks a key's name. Names without a dot are preconf's own options,
    /// and `provisioning.` is the OSGi set: both are closed, so a typo there
    /// is an error; other dotted names are data a server or vendor may add.
    pub(crate) fn parse(name: &str) -> Result<Name, String> {
        if let Some(key) = Key::from_name(name) {
            return Ok(Name::Known(key));
        }
        if !is_key_name(name) {
            return Err(format!(
                "'{name}' is not a key (lowercase letters, digits, '.', '-' and '_')"
            ));
        }
        let known = |dotted: bool| {
            let names: Vec<&str> = Key::ALL
                .iter()
                .map(|k| k.name())
                .filter(|n| {
                    n.contains('.') == dotted && (!dotted || n.starts_with("provisioning."))
                })
                .collect();
            names.join(", ")
        };
        if !name.contains('.') {
            return Err(format!("unknown key '{name}' (known: {})", known(false)));
        }
        if name.starts_with("provisioning.") {
            return Err(format!(
                "unknown key '{name}' (the provisioning keys are {})",
                known(true)
            ));
        }
        Ok(Name::Other(name.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Name::Known(k) => k.name(),
            Name::Other(n) => n,
        }
    }
}

/// 1 to 128 bytes of lowercase letters, digits, `.`, `-`, `_`, starting
/// with a letter, no empty part between dots.
fn is_key_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('.').all(|part| !part.is_empty())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// One `key=value` line, its key checked against the key table.
pub(crate) struct Line {
    pub(crate) name: Name,
    pub(crate) value: String,
    /// Under `[BINARY]`: the value names a file holding the bytes.
    pub(crate) binary: bool,
    /// 1-based, for messages.
    pub(crate) number: usize,
}

/// The lines of a settings file or factory properties; the error names
/// the line.
pub(crate) fn parse_properties(text: &str) -> Result<Vec<Line>, String> {
    parse(text, false)
}

/// The lines of a `props.txt`: as [`parse_properties`], with `[TEXT]` and
/// `[BINARY]` sections; lines before the first section are text.
pub(crate) fn parse_props_txt(text: &str) -> Result<Vec<Line>, String> {
    parse(text, true)
}

fn parse(text: &str, sections: bool) -> Result<Vec<Line>, String> {
    let mut out = Vec::new();
    let mut binary = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let number = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if sections && line.starts_with('[') {
            binary = match line {
                "[TEXT]" => false,
                "[BINARY]" => true,
                _ => {
                    return Err(format!(
                        "line {number}: unknown section {line} (the sections are [TEXT] and [BINARY])"
                    ));
                }
            };
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {number} is not key=value"));
        };
        let (k, v) = (k.trim(), v.trim());
        let name = Name::parse(k).map_err(|why| format!("line {number}: {why}"))?;
        if let Name::Known(key) = name {
            if key.kind() == Kind::Switch {
                switch(v).map_err(|why| format!("line {number}: {k} {why}"))?;
            }
        }
        if v.is_empty() {
            return Err(format!("line {number}: {k} has no value"));
        }
        out.push(Line {
            name,
            value: v.to_string(),
            binary,
            number,
        });
    }
    Ok(out)
}

/// The one rule for switches, wherever they come from.
pub(crate) fn switch(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("is a switch: write true or false".to_string()),
    }
}

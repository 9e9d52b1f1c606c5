//! The `key=value` text of settings files and factory properties: `#`
//! comments, blank lines ignored, keys as the long options, a repeatable
//! key on several lines, a switch as `key=true` or `key=false`.
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

/// One `key=value` line, checked against the key table.
pub(crate) struct Line {
    pub(crate) key: Key,
    pub(crate) value: String,
    /// 1-based, for messages.
    pub(crate) number: usize,
}

/// The lines of a properties text; the error names the line.
pub(crate) fn parse_properties(text: &str) -> Result<Vec<Line>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = i + 1;
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {number} is not key=value"));
        };
        let (k, v) = (k.trim(), v.trim());
        let Some(key) = Key::from_name(k) else {
            let known: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
            return Err(format!(
                "line {number}: unknown key '{k}' (known: {})",
                known.join(", ")
            ));
        };
        if key.kind() == Kind::Switch {
            switch(v).map_err(|why| format!("line {number}: {k} {why}"))?;
        }
        if v.is_empty() {
            return Err(format!("line {number}: {k} has no value"));
        }
        out.push(Line {
            key,
            value: v.to_string(),
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

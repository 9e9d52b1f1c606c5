//! The provisioning storage: the dictionary's stored provider (what
//! `props set` and servers' `properties` put there), the count of its
//! changes, the copy of `props.txt` once loaded, and the last run's
//! outcome. One file, `<state>/storage`, 0600 since it may hold secrets.
//!
//! The file is a header line and a JSON body:
//!
//! ```text
//! preconf-storage 1 <body length> <SHA-256 of the body, hex>
//! {"format":1,"update_count":2,"entries":[…],"file":…,"last_run":…}
//! ```
//!
//! It is written atomically (`files::write_atomic`), and the header lets
//! a reader tell a whole file from anything else (a torn write on a file
//! system that does not keep rename's promise, a disk error, an edit by
//! hand): such a file is set aside and reported, never half-read.

use std::io;
use std::path::{Path, PathBuf};

use data_encoding::{BASE64, HEXLOWER};
use sha2::{Digest, Sha256};

use super::files;
use crate::json::{self, Json};
use crate::settings::Value;

/// Bounds the file: the dictionary holds keys, certificates and an agent
/// configuration, not packages.
const MAX_STORAGE: u64 = 4 * 1024 * 1024;

const MAGIC: &str = "preconf-storage";
const FORMAT: u64 = 1;

/// The storage's contents.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stored {
    /// `provisioning.update.count`: one more at every change of `entries`
    /// or `file`.
    pub(crate) update_count: u64,
    /// The stored provider's keys, in the order they were set.
    pub(crate) entries: Vec<(String, Value)>,
    /// `props.txt` as it was when a run loaded it (prm.file.load.once).
    pub(crate) file: Option<FileCopy>,
    pub(crate) last_run: Option<LastRun>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileCopy {
    pub(crate) path: String,
    /// When it was loaded, RFC 3339.
    pub(crate) time: String,
    pub(crate) entries: Vec<(String, Value)>,
}

/// How the last run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastRun {
    pub(crate) time: String,
    /// Its exit code: 0 when it provisioned the device.
    pub(crate) exit: i32,
    pub(crate) message: String,
}

impl LastRun {
    /// `{"time":…,"exit":…,"message":…}`: in the storage, and as
    /// `preconf props --json` shows it.
    pub(crate) fn to_json(&self) -> String {
        format!(
            "{{\"time\":{},\"exit\":{},\"message\":{}}}",
            json::quote(&self.time),
            self.exit,
            json::quote(&self.message)
        )
    }
}

impl Stored {
    /// Sets `name` (replacing what it held) and counts the change, if it
    /// is one.
    pub(crate) fn set(&mut self, name: &str, value: Value) {
        if self.entries.iter().any(|(n, v)| n == name && *v == value) {
            return;
        }
        self.entries.retain(|(n, _)| n != name);
        self.entries.push((name.to_string(), value));
        self.update_count = self.update_count.saturating_add(1);
    }

    /// Removes `name`; true (and counted) if it was there.
    pub(crate) fn unset(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| n != name);
        let changed = self.entries.len() != before;
        self.update_count = self.update_count.saturating_add(u64::from(changed));
        changed
    }
}

/// The storage file of a state directory.
pub(crate) struct Storage {
    pub(crate) path: PathBuf,
}

/// What reading found.
pub(crate) enum Read {
    /// No storage yet: an empty one.
    Missing,
    Whole(Stored),
    /// Not a whole storage file; the phrase says why.
    Damaged(String),
}

impl Storage {
    pub(crate) fn new(state_dir: &Path) -> Storage {
        Storage::at(state_dir.join("storage"))
    }

    /// A file of the same format elsewhere: `preconf listen` keeps what a
    /// backend pushed in `<state>/pushed`.
    pub(crate) fn at(path: PathBuf) -> Storage {
        Storage { path }
    }

    pub(crate) fn read(&self) -> io::Result<Read> {
        let bytes = match files::read_limited(&self.path, MAX_STORAGE + 1) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::Missing),
            Err(e) => return Err(e),
        };
        if bytes.len() as u64 > MAX_STORAGE {
            return Ok(Read::Damaged(format!(
                "it is larger than {MAX_STORAGE} bytes"
            )));
        }
        Ok(match decode(&bytes) {
            Ok(s) => Read::Whole(s),
            Err(why) => Read::Damaged(why),
        })
    }

    /// Moves a damaged file aside, to `storage.damaged` (or `pushed.damaged`),
    /// for a person to look at; the next write starts afresh.
    pub(crate) fn set_aside(&self) -> io::Result<PathBuf> {
        let mut aside = self.path.clone().into_os_string();
        aside.push(".damaged");
        let aside = PathBuf::from(aside);
        std::fs::rename(&self.path, &aside)?;
        files::sync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        Ok(aside)
    }

    /// Writes the whole storage atomically, 0600; never larger than a
    /// reader takes.
    pub(crate) fn write(&self, stored: &Stored) -> io::Result<()> {
        let bytes = encode(stored);
        if bytes.len() as u64 > MAX_STORAGE {
            return Err(io::Error::other(format!(
                "the dictionary would take more than {} MiB; remove keys with preconf props unset",
                MAX_STORAGE / 1024 / 1024
            )));
        }
        files::write_atomic(&self.path, &bytes, 0o600)
    }
}

pub(crate) fn encode(s: &Stored) -> Vec<u8> {
    let mut body = format!(
        "{{\"format\":{FORMAT},\"update_count\":{},\"entries\":{}",
        s.update_count,
        entries_json(&s.entries)
    );
    if let Some(f) = &s.file {
        body.push_str(&format!(
            ",\"file\":{{\"path\":{},\"time\":{},\"entries\":{}}}",
            json::quote(&f.path),
            json::quote(&f.time),
            entries_json(&f.entries)
        ));
    }
    if let Some(r) = &s.last_run {
        body.push_str(&format!(",\"last_run\":{}", r.to_json()));
    }
    body.push_str("}\n");
    let digest = HEXLOWER.encode(&Sha256::digest(body.as_bytes()));
    let mut out = format!("{MAGIC} {FORMAT} {} {digest}\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// `[{"key":…,"text":…} or {"key":…,"base64":…}, …]`
fn entries_json(entries: &[(String, Value)]) -> String {
    let items: Vec<String> = entries
        .iter()
        .map(|(k, v)| match v {
            Value::Text(t) => format!("{{\"key\":{},\"text\":{}}}", json::quote(k), json::quote(t)),
            Value::Bytes(b) => format!(
                "{{\"key\":{},\"base64\":\"{}\"}}",
                json::quote(k),
                BASE64.encode(b)
            ),
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// A storage file's contents; the error says why it is not a whole one.
pub(crate) fn decode(bytes: &[u8]) -> Result<Stored, String> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("it has no header line")?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| "its header is not text")?;
    let body = &bytes[nl + 1..];
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, format, len, digest] = fields[..] else {
        return Err("its header is not a storage header".into());
    };
    if magic != MAGIC {
        return Err("it is not a preconf storage file".into());
    }
    if format != FORMAT.to_string() {
        return Err(format!("it is format {format}, not {FORMAT}"));
    }
    if len != body.len().to_string() {
        return Err(format!(
            "it is cut short or padded ({} bytes of body, the header says {len})",
            body.len()
        ));
    }
    if digest != HEXLOWER.encode(&Sha256::digest(body)) {
        return Err("its checksum does not match".into());
    }
    decode_body(body)
}

/// The body of a whole storage file (past its header's checks).
pub(crate) fn decode_body(body: &[u8]) -> Result<Stored, String> {
    let doc = json::parse(body).map_err(|e| format!("its body is not JSON ({e})"))?;
    stored(&doc).map_err(|field| format!("its {field} is missing or wrong"))
}

/// The contents; the error names the field.
fn stored(doc: &Json) -> Result<Stored, &'static str> {
    let file = match doc.get("file") {
        None => None,
        Some(f) => Some(FileCopy {
            path: string(f, "path").ok_or("file.path")?,
            time: string(f, "time").ok_or("file.time")?,
            entries: entries(f.get("entries")).ok_or("file.entries")?,
        }),
    };
    let last_run = match doc.get("last_run") {
        None => None,
        Some(r) => Some(LastRun {
            time: string(r, "time").ok_or("last_run.time")?,
            exit: r
                .get("exit")
                .and_then(Json::as_u64)
                .and_then(|e| i32::try_from(e).ok())
                .ok_or("last_run.exit")?,
            message: string(r, "message").ok_or("last_run.message")?,
        }),
    };
    Ok(Stored {
        update_count: doc
            .get("update_count")
            .and_then(Json::as_u64)
            .ok_or("update_count")?,
        entries: entries(doc.get("entries")).ok_or("entries")?,
        file,
        last_run,
    })
}

fn string(doc: &Json, field: &str) -> Option<String> {
    doc.get(field).and_then(Json::as_str).map(str::to_string)
}

fn entries(list: Option<&Json>) -> Option<Vec<(String, Value)>> {
    list?
        .as_array()?
        .iter()
        .map(|e| {
            let key = string(e, "key")?;
            let value = match (string(e, "text"), string(e, "base64")) {
                (Some(t), None) => Value::Text(t),
                (None, Some(b)) => Value::Bytes(crate::base64::decode(b.as_bytes())?),
                _ => return None,
            };
            Some((key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stored {
        let mut s = Stored::default();
        s.set("provisioning.spid", Value::Text("DEV \"1\"\n".into()));
        s.set("provisioning.rootx509", Value::Bytes(vec![0, 1, 255]));
        s.file = Some(FileCopy {
            path: "/etc/preconf/props.txt".into(),
            time: "2026-11-26T12:00:00Z".into(),
            entries: vec![("prm.name".into(), Value::Text("dev".into()))],
        });
        s.last_run = Some(LastRun {
            time: "2026-11-26T12:00:01Z".into(),
            exit: 65,
            message: "bad bundle".into(),
        });
        s
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(s.update_count, 2);
        assert_eq!(decode(&encode(&s)).unwrap(), s);
        assert_eq!(
            decode(&encode(&Stored::default())).unwrap(),
            Stored::default()
        );
    }

    #[test]
    fn anything_but_a_whole_file_is_refused() {
        let bytes = encode(&sample());
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
        let mut longer = bytes.clone();
        longer.push(b' ');
        assert!(decode(&longer).unwrap_err().contains("cut short or padded"));
    }
}

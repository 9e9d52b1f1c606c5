//! The state directory: what a run leaves behind for the configurator and
//! for the next run. Layout:
//!
//! ```text
//! <state>/bundle.json      the bundle as received (0600: it holds the device password)
//! <state>/certs/<name>.pem certificates from the bundle (0600)
//! <state>/receipt.json     written last: its presence means "provisioned"
//! <state>/staging/         downloads in progress
//! ```

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use nanoserde::{DeJson, SerJson};

use crate::bundle::Certificate;
use crate::files;

/// Receipts are tiny; a huge one is not ours.
const MAX_RECEIPT: u64 = 64 * 1024;

pub struct State {
    pub dir: PathBuf,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct Receipt {
    pub format: u32,
    /// UTC, RFC 3339.
    pub time: String,
    pub unix_time: u64,
    pub domain: Option<String>,
    pub server: String,
    pub bundle_url: String,
    pub package: ReceiptPackage,
    pub command: Vec<String>,
}

#[derive(DeJson, SerJson, Debug, Clone, PartialEq)]
pub struct ReceiptPackage {
    pub name: String,
    pub arch: String,
    #[nserde(rename = "type")]
    pub kind: String,
    /// The download URL, or `apt:NAME` for a package from a repository.
    pub url: String,
    /// Of the downloaded file; none for apt packages (apt verifies those).
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

impl State {
    pub fn new(dir: PathBuf) -> State {
        State { dir }
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle.json")
    }

    pub fn certs(&self) -> PathBuf {
        self.dir.join("certs")
    }

    pub fn receipt(&self) -> PathBuf {
        self.dir.join("receipt.json")
    }

    pub fn staging(&self) -> PathBuf {
        self.dir.join("staging")
    }

    /// Creates the state dir, private to its owner.
    pub fn prepare(&self) -> io::Result<()> {
        files::private_dir(&self.dir)
    }

    pub fn read_receipt(&self) -> io::Result<Option<Receipt>> {
        let path = self.receipt();
        if !path.exists() {
            return Ok(None);
        }
        let bytes = files::read_limited(&path, MAX_RECEIPT)?;
        let text = String::from_utf8_lossy(&bytes);
        Receipt::deserialize_json(&text).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is damaged ({e})", path.display()),
            )
        })
    }

    pub fn write_receipt(&self, r: &Receipt) -> io::Result<()> {
        files::write_atomic(&self.receipt(), r.serialize_json().as_bytes(), 0o644)
    }

    pub fn write_bundle(&self, raw: &[u8]) -> io::Result<()> {
        files::write_atomic(&self.bundle(), raw, 0o600)
    }

    /// Replaces the certificate directory as a whole: the new set is written
    /// beside it and swapped in, so a failure leaves the old set in place.
    pub fn write_certs(&self, certs: &[Certificate]) -> io::Result<()> {
        let live = self.certs();
        let fresh = self.dir.join(".certs.new");
        let old = self.dir.join(".certs.old");
        self.recover()?;
        let _ = fs::remove_dir_all(&fresh);
        let _ = fs::remove_dir_all(&old);
        files::private_dir(&fresh)?;
        for c in certs {
            files::write_atomic(
                &fresh.join(format!("{}.pem", c.name)),
                c.pem.as_bytes(),
                0o600,
            )?;
        }
        if live.exists() {
            fs::rename(&live, &old)?;
        }
        fs::rename(&fresh, &live)?;
        files::sync_dir(&self.dir)?;
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }

    /// Puts back the certificates of a swap that a power cut stopped
    /// between its two renames (see `write_certs`).
    pub fn recover(&self) -> io::Result<()> {
        let old = self.dir.join(".certs.old");
        if !self.certs().exists() && old.is_dir() {
            fs::rename(&old, self.certs())?;
            files::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Removes leftovers of an earlier run that stopped half-way.
    pub fn clean_staging(&self) {
        let _ = fs::remove_dir_all(self.staging());
    }
}

pub fn now() -> (u64, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs, rfc3339(secs))
}

/// UTC date and time from Unix seconds (Howard Hinnant's days-to-civil),
/// rather than a date crate for one timestamp.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_survive_a_swap_cut_in_half() {
        let dir = std::env::temp_dir().join(format!("preconf-state-{}", std::process::id()));
        let state = State::new(dir.clone());
        state.prepare().unwrap();
        let cert = |name: &str| Certificate {
            name: name.into(),
            pem: format!("-----BEGIN CERTIFICATE-----\n{name}\n"),
        };
        state.write_certs(&[cert("first")]).unwrap();
        // Power cut after `certs` became `.certs.old`, before the new set moved in.
        fs::rename(state.certs(), dir.join(".certs.old")).unwrap();
        state.recover().unwrap();
        assert!(state.certs().join("first.pem").is_file());
        state.write_certs(&[cert("second")]).unwrap();
        assert!(
            state.certs().join("second.pem").is_file() && !state.certs().join("first.pem").exists()
        );
        assert!(!dir.join(".certs.old").exists() && !dir.join(".certs.new").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_650_000), "2026-11-25T23:40:00Z");
    }
}

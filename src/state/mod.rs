//! The state directory: what a run leaves behind for the configurator and
//! for the next run. Layout:
//!
//! ```text
//! <state>/bundle.json      the bundle as received (0600: it holds the device password)
//! <state>/certs/<name>.pem certificates from the bundle (0600)
//! <state>/receipt.json     written last: its presence means "provisioned"
//! <state>/storage          the stored dictionary (0600; see `storage`)
//! <state>/agent.config     provisioning.agent.config, for the configurator (0600)
//! <state>/staging/         downloads in progress (0700)
//! <state>/report.pending   progress events not yet delivered (0600; see `progress`)
//! ```
//!
//! Every file is written atomically (`files`), so a power cut leaves the
//! old state or the new one.

pub(crate) mod files;
mod receipt;
pub(crate) mod storage;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Exit, Result, Step};
pub(crate) use receipt::{Chain, Installed, InstalledPackage, PackageType, Receipt, Verified, Via};

/// Receipts are tiny; a huge one is not ours.
const MAX_RECEIPT: u64 = 64 * 1024;

pub(crate) struct State {
    pub(crate) dir: PathBuf,
}

impl State {
    pub(crate) fn new(dir: PathBuf) -> State {
        State { dir }
    }

    pub(crate) fn bundle(&self) -> PathBuf {
        self.dir.join("bundle.json")
    }

    pub(crate) fn certs(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// provisioning.agent.config, for the configurator.
    pub(crate) fn agent_config(&self) -> PathBuf {
        self.dir.join("agent.config")
    }

    fn receipt_path(&self) -> PathBuf {
        self.dir.join("receipt.json")
    }

    pub(crate) fn staging(&self) -> PathBuf {
        self.dir.join("staging")
    }

    /// Creates the state dir, private to its owner.
    pub(crate) fn prepare(&self) -> Result<()> {
        files::private_dir(&self.dir).map_err(|e| cannot_write(&self.dir, &e))
    }

    /// The receipt of an earlier run, if there is one.
    pub(crate) fn receipt(&self) -> Result<Option<Receipt>> {
        let path = self.receipt_path();
        if !path.exists() {
            return Ok(None);
        }
        let bytes = files::read_limited(&path, MAX_RECEIPT).map_err(|e| cannot_read(&path, &e))?;
        Receipt::from_json(&bytes).map(Some).map_err(|why| {
            Error::new(
                Step::State,
                Exit::DataErr,
                format!(
                    "{} is damaged ({why}); move it aside, or pass --force to provision again.",
                    path.display()
                ),
            )
        })
    }

    pub(crate) fn write_receipt(&self, r: &Receipt) -> Result<()> {
        let path = self.receipt_path();
        files::write_atomic(&path, r.to_json().as_bytes(), 0o644)
            .map_err(|e| cannot_write(&path, &e))
    }

    /// The bundle and its certificates, for the configurator; then the
    /// staging area is emptied.
    /// `certs` are (file name, PEM) pairs, the names checked by the bundle.
    pub(crate) fn store<'a>(
        &self,
        raw_bundle: &[u8],
        certs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<()> {
        self.write_certs(certs)
            .map_err(|e| cannot_write(&self.certs(), &e))?;
        files::write_atomic(&self.bundle(), raw_bundle, 0o600)
            .map_err(|e| cannot_write(&self.bundle(), &e))?;
        self.clean_staging();
        Ok(())
    }

    /// Writes provisioning.agent.config for the configurator, 0600: it may
    /// hold credentials.
    pub(crate) fn write_agent_config(&self, bytes: &[u8]) -> Result<()> {
        let path = self.agent_config();
        files::write_atomic(&path, bytes, 0o600).map_err(|e| cannot_write(&path, &e))
    }

    /// Replaces the certificate directory as a whole: the new set is written
    /// beside it and swapped in, so a failure leaves the old set in place.
    fn write_certs<'a>(
        &self,
        certs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> io::Result<()> {
        let live = self.certs();
        let fresh = self.dir.join(".certs.new");
        let old = self.dir.join(".certs.old");
        self.put_back_certs()?;
        let _ = fs::remove_dir_all(&fresh);
        let _ = fs::remove_dir_all(&old);
        files::private_dir(&fresh)?;
        for (name, pem) in certs {
            files::write_atomic(&fresh.join(format!("{name}.pem")), pem.as_bytes(), 0o600)?;
        }
        if live.exists() {
            fs::rename(&live, &old)?;
        }
        fs::rename(&fresh, &live)?;
        files::sync_dir(&self.dir)?;
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }

    /// Mends what a power cut may have left half-done in an earlier run.
    pub(crate) fn recover(&self) -> Result<()> {
        if !self.dir.is_dir() {
            return Ok(());
        }
        self.put_back_certs()
            .map_err(|e| cannot_write(&self.certs(), &e))
    }

    /// Puts back the certificates of a swap that a power cut stopped
    /// between its two renames (see `write_certs`).
    fn put_back_certs(&self) -> io::Result<()> {
        let old = self.dir.join(".certs.old");
        if !self.certs().exists() && old.is_dir() {
            fs::rename(&old, self.certs())?;
            files::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Removes leftovers of downloads.
    pub(crate) fn clean_staging(&self) {
        let _ = fs::remove_dir_all(self.staging());
    }
}

pub(crate) fn cannot_read(path: &Path, e: &io::Error) -> Error {
    Error::new(
        Step::State,
        Exit::IoErr,
        format!(
            "cannot read {}: {e}; check the state directory (--state-dir).",
            path.display()
        ),
    )
}

pub(crate) fn cannot_write(path: &Path, e: &io::Error) -> Error {
    Error::new(
        Step::State,
        Exit::CantCreat,
        format!(
            "cannot write {}: {e}; check --state-dir and free space.",
            path.display()
        ),
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
        let cert = |name| [(name, "-----BEGIN CERTIFICATE-----\n")];
        state.write_certs(cert("first")).unwrap();
        // Power cut after `certs` became `.certs.old`, before the new set moved in.
        fs::rename(state.certs(), dir.join(".certs.old")).unwrap();
        state.recover().unwrap();
        assert!(state.certs().join("first.pem").is_file());
        state.write_certs(cert("second")).unwrap();
        assert!(
            state.certs().join("second.pem").is_file() && !state.certs().join("first.pem").exists()
        );
        assert!(!dir.join(".certs.old").exists() && !dir.join(".certs.new").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_receipt_is_a_read_error() {
        let dir = std::env::temp_dir().join(format!("preconf-receipt-{}", std::process::id()));
        let state = State::new(dir.clone());
        state.prepare().unwrap();
        fs::write(state.receipt_path(), b"not a receipt").unwrap();
        let e = state.receipt().unwrap_err();
        assert_eq!(e.exit, Exit::DataErr);
        assert!(e.message.contains("is damaged"), "{}", e.message);
        assert!(!e.message.contains("cannot write"), "{}", e.message);
        fs::remove_dir_all(dir).unwrap();
    }
}

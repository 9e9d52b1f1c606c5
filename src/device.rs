//! Who this device is: `--device-id`, else the first line of
//! `--device-id-file` (a serial number, /etc/machine-id). Read by a run when
//! it needs the identity, never while settings load, so `preconf status`
//! works whatever state that file is in.

use std::path::Path;

use crate::error::{Error, Exit, Result, Step};
use crate::settings::Settings;

/// A serial number is a line; a huge file is not one.
const MAX_ID_FILE: u64 = 4096;

pub(crate) fn id(s: &Settings) -> Result<Option<String>> {
    if let Some(id) = &s.device_id {
        return Ok(Some(id.clone()));
    }
    let Some(path) = &s.device_id_file else {
        return Ok(None);
    };
    let bytes = crate::state::files::read_limited(path, MAX_ID_FILE)
        .map_err(|e| unusable(path, Exit::NoInput, &format!("cannot be read ({e})")))?;
    let text = String::from_utf8_lossy(&bytes);
    match text.lines().next().map(str::trim).filter(|l| !l.is_empty()) {
        Some(id) => Ok(Some(id.to_string())),
        None => Err(unusable(path, Exit::Config, "is empty")),
    }
}

fn unusable(path: &Path, exit: Exit, why: &str) -> Error {
    Error::new(
        Step::Settings,
        exit,
        format!(
            "the device identity file {} {why}; check --device-id-file, or pass --device-id.",
            path.display()
        ),
    )
}

//! Step 8 for packages of type `exec`: the verified file is placed at its
//! path below the root, atomically, mode 0755.

use std::path::Path;

use crate::error::{Error, Exit, Result, Step};
use crate::state::files::{self, InRoot};

/// Places the file; returns what was done, for the step line.
pub(super) fn place(staged: &Path, path: &InRoot, root: &Path) -> Result<String> {
    let target = path.under(root);
    files::move_atomic(staged, &target, 0o755).map_err(|e| {
        Error::new(
            Step::Install,
            Exit::CantCreat,
            format!(
                "cannot place {}: {e}; check that the file system is writable.",
                target.display()
            ),
        )
    })?;
    Ok(format!("placed {}", target.display()))
}

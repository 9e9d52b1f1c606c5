//! Step 8 for packages of type `deb`: dpkg installs the verified file,
//! into the root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Exit, Result, Step};

/// Installs a Debian package file with dpkg, into `root`.
pub(super) fn deb(deb: &Path, root: &Path) -> Result<String> {
    let mut cmd = Command::new("dpkg");
    if root != Path::new("/") {
        prepare_root(root)?;
        cmd.arg(format!("--root={}", root.display()))
            .arg("--force-script-chrootless")
            // Keep the log inside the root, so the host's dpkg.log is untouched.
            .arg(format!("--log={}", root.join("var/log/dpkg.log").display()));
    }
    cmd.arg("-i").arg(deb);
    let status = super::package_tool(cmd, "dpkg", "a deb package needs dpkg on the device")?;
    if !status.success() {
        return Err(Error::new(
            Step::Install,
            Exit::DataErr,
            format!(
                "dpkg -i {} failed ({status}); see dpkg's messages above. Nothing else was changed.",
                deb.display()
            ),
        ));
    }
    Ok(format!(
        "installed with dpkg{}",
        if root == Path::new("/") {
            String::new()
        } else {
            format!(" into {}", root.display())
        }
    ))
}

/// A fresh root has no dpkg database yet; dpkg --root needs one.
pub(super) fn prepare_root(root: &Path) -> Result<()> {
    let admin = root.join("var/lib/dpkg");
    let made = (|| {
        for d in ["updates", "info", "triggers"] {
            fs::create_dir_all(admin.join(d))?;
        }
        fs::create_dir_all(root.join("var/log"))?;
        for f in ["status", "available"] {
            let p: PathBuf = admin.join(f);
            if !p.exists() {
                fs::write(&p, b"")?;
            }
        }
        Ok::<_, std::io::Error>(())
    })();
    made.map_err(|e| {
        Error::new(
            Step::Install,
            Exit::CantCreat,
            format!(
                "cannot prepare the dpkg database in {}: {e}.",
                admin.display()
            ),
        )
    })
}

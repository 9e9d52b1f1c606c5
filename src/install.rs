//! Step 8: install a verified package file: place it, or give it to dpkg.
//! (Packages from a repository are apt's: see `apt`.) The package goes
//! first, the bundle and certificates after: if it fails, the state of an
//! earlier run is left as it was.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::credentials::{ENV_ASKPASS, ENV_PASSWORD};
use crate::download::Staged;
use crate::error::{Error, Exit, Result, Step};
use crate::files;

/// Places an `exec` package at `path` under `root`; returns what was done,
/// for the step line.
pub fn place(staged: &Staged, path: &str, root: &Path) -> Result<String> {
    let target = files::under_root(root, path).ok_or_else(|| {
        Error::new(Step::Install, Exit::DataErr, format!("the package path {path} is not a plain absolute path; ask your IT admin to fix the bundle."))
    })?;
    files::move_atomic(&staged.path, &target, 0o755).map_err(|e| {
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

/// Installs a Debian package file with dpkg, into `root`.
pub fn dpkg(deb: &Path, root: &Path) -> Result<String> {
    let mut cmd = Command::new("dpkg");
    if root != Path::new("/") {
        prepare_dpkg_root(root)?;
        cmd.arg(format!("--root={}", root.display()))
            .arg("--force-script-chrootless")
            // Keep the log inside the root, so the host's dpkg.log is untouched.
            .arg(format!("--log={}", root.join("var/log/dpkg.log").display()));
    }
    cmd.arg("-i").arg(deb);
    let status = run_tool(cmd, "dpkg", "a deb package needs dpkg on the device")?;
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

/// Runs a package tool (dpkg, apt-get) to its end, without input, its
/// chatter on our stderr: stdout stays for machine output (--no-exec).
pub fn run_tool(mut cmd: Command, name: &str, needs: &str) -> Result<std::process::ExitStatus> {
    if let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() {
        cmd.stdout(Stdio::from(fd));
    }
    // Maintainer scripts come from the server: they get no password.
    cmd.env_remove(ENV_PASSWORD).env_remove(ENV_ASKPASS);
    cmd.stdin(Stdio::null()).status().map_err(|e| {
        Error::new(
            Step::Install,
            Exit::Unavailable,
            format!("cannot run {name}: {e}; {needs}."),
        )
    })
}

/// A fresh root has no dpkg database yet; dpkg --root needs one.
pub fn prepare_dpkg_root(root: &Path) -> Result<()> {
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

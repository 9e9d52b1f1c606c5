//! Steps 7 and 8: get the configurator package onto the device. A file
//! package (`exec`, `deb`) is downloaded and verified, then placed or
//! given to dpkg; an `apt` package is installed by apt-get from the
//! bundle's repositories. The package goes first, the bundle and
//! certificates after: if it fails, an earlier run's state stays as it was.

mod apt;
mod dpkg;
mod exec;

use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use crate::bundle::{Package, PackageFile, PackageKind};
use crate::credentials::{ENV_ASKPASS, ENV_PASSWORD};
use crate::download::{self, Staged};
use crate::error::{Error, Exit, Result, Step};
use crate::fetch::Fetched;
use crate::net::http::{Http, parse_url};
use crate::progress::{self, Event};
use crate::report::say;
use crate::state::{Installed, InstalledPackage, State};

/// Installs `pkg`, the package of the configurator `name`, from the
/// bundle `fetched` brought, below `root`.
pub(crate) fn package(
    pkg: &Package,
    name: &str,
    fetched: &Fetched,
    http: &Http,
    root: &Path,
    state: &State,
) -> Result<Installed> {
    let package = match &pkg.kind {
        PackageKind::Apt { name } => {
            let repos = &fetched.bundle.repositories;
            say(
                Step::Install,
                apt::from_repositories(name, repos, root, &state.dir)?,
            );
            InstalledPackage::Apt { name: name.clone() }
        }
        PackageKind::Exec { file, path } => {
            let staged = download_file(file, fetched, http, state)?;
            say(Step::Install, exec::place(&staged.path, path, root)?);
            InstalledPackage::Exec(staged.verified)
        }
        PackageKind::Deb { file } => {
            let staged = download_file(file, fetched, http, state)?;
            say(Step::Install, dpkg::deb(&staged.path, root)?);
            InstalledPackage::Deb(staged.verified)
        }
    };
    Ok(Installed {
        name: name.to_string(),
        arch: pkg.arch.clone(),
        package,
    })
}

/// Step 7: the file, resolved against the bundle's URL, downloaded into
/// the staging area and verified. The login goes with it only to the
/// origin that accepted it.
fn download_file(
    file: &PackageFile,
    fetched: &Fetched,
    http: &Http,
    state: &State,
) -> Result<Staged> {
    let url = parse_url(Some(&fetched.url), &file.url).map_err(|e| {
        Error::new(
            Step::Bundle,
            Exit::DataErr,
            format!(
                "the package URL '{}' is unusable ({e}); ask your IT admin to fix the bundle.",
                file.url
            ),
        )
    })?;
    state.clean_staging();
    let staged = download::file(http, &url, fetched.auth.as_ref(), file, &state.staging())?;
    let v = &staged.verified;
    let verified = format!("{url} ({} bytes, SHA-256 {} verified)", v.size, v.sha256);
    say(Step::Download, &verified);
    progress::event(Event::DownloadComplete, verified);
    Ok(staged)
}

/// Runs a package tool (dpkg, apt-get) to its end, without input, its
/// chatter on our stderr: stdout stays for machine output (--no-exec).
fn package_tool(mut cmd: Command, name: &str, needs: &str) -> Result<ExitStatus> {
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

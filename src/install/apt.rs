//! Step 8 for packages of type `apt`: add the bundle's repositories and let
//! apt-get install the configurator from them, confined to the root.
//!
//! Under a root other than `/`, apt runs with a configuration of its own
//! (`APT_CONFIG`) whose `Dir` is the root, whose dpkg status is the root's,
//! and whose dpkg runs with `--root`, so the host's package state is never
//! read or touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bundle::Repository;
use crate::error::{Error, Exit, Result, Step};
use crate::state::files;

use super::dpkg::prepare_root;
use super::package_tool;

/// Where the bundle's repositories are written, below the root.
const SOURCES: &str = "etc/apt/sources.list.d/preconf.list";
const KEYRINGS: &str = "etc/apt/keyrings";

pub(super) fn from_repositories(
    name: &str,
    repos: &[Repository],
    root: &Path,
    state: &Path,
) -> Result<String> {
    write_sources(repos, root)?;
    let config = if root == Path::new("/") {
        None
    } else {
        Some(confine(root, state)?)
    };
    apt_get(&["update"], config.as_deref())?;
    apt_get(
        &["install", "--yes", "--no-install-recommends", name],
        config.as_deref(),
    )?;
    Ok(format!(
        "installed {name} with apt-get from {} repositor{}",
        repos.len(),
        if repos.len() == 1 { "y" } else { "ies" }
    ))
}

/// One sources.list line per repository, and its key beside it.
fn write_sources(repos: &[Repository], root: &Path) -> Result<()> {
    let mut list = String::from("# Written by preconf from the provisioning bundle.\n");
    for r in repos {
        let mut options = Vec::new();
        if let Some(key) = &r.key {
            let file = format!("/{KEYRINGS}/preconf-{}.asc", r.name);
            write(&root.join(&file[1..]), key.as_bytes(), 0o644)?;
            options.push(format!("signed-by={file}"));
        }
        if r.trusted {
            options.push("trusted=yes".to_string());
        }
        let options = if options.is_empty() {
            String::new()
        } else {
            format!("[{}] ", options.join(" "))
        };
        let components = r.components.join(" ");
        list.push_str(format!("deb {options}{} {} {components}", r.uri, r.suite).trim_end());
        list.push('\n');
    }
    write(&root.join(SOURCES), list.as_bytes(), 0o644)
}

/// An apt configuration that keeps apt and dpkg inside `root`.
fn confine(root: &Path, state: &Path) -> Result<PathBuf> {
    prepare_root(root)?;
    for d in [
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "etc/apt/trusted.gpg.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/log/apt",
    ] {
        fs::create_dir_all(root.join(d)).map_err(|e| io_error(&root.join(d), &e))?;
    }
    let r = root.display();
    let config = format!(
        "Dir \"{r}/\";\n\
         Dir::State::status \"{r}/var/lib/dpkg/status\";\n\
         Dir::Bin::dpkg \"/usr/bin/dpkg\";\n\
         DPkg::Options {{ \"--root={r}\"; \"--force-script-chrootless\"; \"--log={r}/var/log/dpkg.log\"; }};\n\
         // Downloads from file: repositories in private directories need root.\n\
         APT::Sandbox::User \"root\";\n"
    );
    let path = state.join("apt.conf");
    write(&path, config.as_bytes(), 0o600)?;
    Ok(path)
}

fn apt_get(args: &[&str], config: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new("apt-get");
    cmd.args(["-q", "-o", "Dpkg::Use-Pty=0"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive");
    if let Some(c) = config {
        cmd.env("APT_CONFIG", c);
    }
    let status = package_tool(cmd, "apt-get", "an apt package needs apt on the device")?;
    if !status.success() {
        return Err(Error::new(
            Step::Install,
            Exit::Unavailable,
            format!(
                "apt-get {} failed ({status}); see apt's messages above, and check the bundle's repositories.",
                args[0]
            ),
        ));
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    files::write_atomic(path, bytes, mode).map_err(|e| io_error(path, &e))
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        Step::Install,
        Exit::CantCreat,
        format!(
            "cannot write {}: {e}; check that the root is writable.",
            path.display()
        ),
    )
}

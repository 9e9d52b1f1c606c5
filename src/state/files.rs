//! Writing files so that a power cut leaves either the old file or the new
//! one, never half of either: write a temporary file beside the target,
//! fsync it, rename it over the target, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Writes `bytes` to `path` atomically with the given mode.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    via_temp(path, |tmp| write_new(tmp, mode, |f| f.write_all(bytes)))
}

/// Moves the (already synced) file at `from` to `path` atomically with the
/// given mode: a rename when both are on one file system, so a large package
/// is not written twice; a copy otherwise.
pub(crate) fn move_atomic(from: &Path, path: &Path, mode: u32) -> io::Result<()> {
    via_temp(path, |tmp| match fs::rename(from, tmp) {
        Ok(()) => {
            fs::set_permissions(tmp, fs::Permissions::from_mode(mode))?;
            File::open(tmp)?.sync_all()
        }
        Err(_) => {
            let mut src = File::open(from)?;
            write_new(tmp, mode, |f| io::copy(&mut src, f).map(drop))?;
            fs::remove_file(from)
        }
    })
}

/// Has `make` produce a synced file at a temporary name beside `path`, then
/// renames it over `path` and syncs the directory; cleans up on failure.
fn via_temp(path: &Path, make: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = temp_beside(path);
    let result = make(&tmp)
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| sync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` (which must not exist) with `mode`, fills and syncs it.
fn write_new(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The umask may have narrowed the mode; set it exactly.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    fill(&mut f)?;
    f.sync_all()
}

/// A name in the same directory (so the rename stays on one file system)
/// that no other writer uses.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a directory (and parents) readable only by its owner.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// An absolute path from outside data (a bundle), checked once: absolute,
/// no `..`, not `/` itself. It can only ever name a place below a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InRoot(String);

impl InRoot {
    pub(crate) fn parse(path: &str) -> Option<InRoot> {
        let p = Path::new(path);
        if !p.is_absolute() {
            return None;
        }
        let mut depth = 0;
        for c in p.components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(_) => depth += 1,
                Component::ParentDir | Component::Prefix(_) => return None,
            }
        }
        (depth > 0).then(|| InRoot(path.to_string()))
    }

    /// This path below `root`.
    pub(crate) fn under(&self, root: &Path) -> PathBuf {
        let mut out = root.to_path_buf();
        for c in Path::new(&self.0).components() {
            if let Component::Normal(n) = c {
                out.push(n);
            }
        }
        out
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads at most `limit` bytes of a file, for files this tool wrote itself.
pub(crate) fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_confinement() {
        let r = Path::new("/r");
        let under = |p: &str| InRoot::parse(p).map(|p| p.under(r));
        assert_eq!(under("/usr/bin/x"), Some(PathBuf::from("/r/usr/bin/x")));
        assert_eq!(under("/usr/./bin//x"), Some(PathBuf::from("/r/usr/bin/x")));
        assert_eq!(under("/usr/../../etc/passwd"), None);
        assert_eq!(under("usr/bin/x"), None);
        assert_eq!(under("/"), None);
        assert_eq!(
            InRoot::parse("/usr/bin/x").unwrap().under(Path::new("/")),
            PathBuf::from("/usr/bin/x")
        );
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = std::env::temp_dir().join(format!("preconf-files-{}", std::process::id()));
        let p = dir.join("sub/f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}

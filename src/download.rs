//! Step 7: download the package into the state dir's staging area while
//! hashing it; memory stays constant whatever the size. Nothing is
//! installed from here unless size and SHA-256 match the bundle.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};
use url::Url;

use crate::bundle::PackageFile;
use crate::error::{Error, Exit, Result, Step};
use crate::net::http::{self, Auth, Http, HttpFailure};
use crate::progress::{self, Event};
use crate::state::Verified;

/// Read and write in pieces this big: large enough for throughput, small
/// enough for a device with little memory.
const CHUNK: usize = 128 * 1024;
/// Pieces in flight between the receiving and the writing thread.
const DEPTH: usize = 3;

/// A verified package, waiting in the staging area.
pub(crate) struct Staged {
    pub(crate) path: PathBuf,
    /// Where it came from and what it was checked to be, for the receipt.
    pub(crate) verified: Verified,
}

/// Downloads `pkg` from `url` into `staging` and verifies it. `auth` goes
/// only to its own origin.
pub(crate) fn file(
    http: &Http,
    url: &Url,
    auth: Option<&Auth>,
    pkg: &PackageFile,
    staging: &Path,
) -> Result<Staged> {
    fs::create_dir_all(staging).map_err(|e| io_error(staging, &e))?;
    let name = file_name(url);
    let path = staging.join(format!("{}.part", pkg.sha256));
    let resp = http.get(url, auth).map_err(|f| refused(f, auth))?.response;
    if let Some(len) = resp.body().content_length().filter(|&l| l > pkg.size) {
        return Err(unverified(too_big(
            name,
            url,
            pkg.size,
            &format!(" (the server announced {len})"),
        )));
    }
    let result = stream(resp.into_body().into_reader(), &path, pkg.size)
        .map_err(|f| match f {
            StreamFailure::TooBig => unverified(too_big(name, url, pkg.size, "")),
            StreamFailure::Read(why) => Error::new(
                Step::Download,
                Exit::TempFail,
                format!("{url} broke off: {why}; try again."),
            ),
            StreamFailure::Write(e) => io_error(&path, &e),
        })
        .and_then(|(digest, size)| {
            check(name, url, &pkg.sha256, &digest, pkg.size, size)
                .map(|_| digest)
                .map_err(unverified)
        });
    match result {
        Ok(sha256) => Ok(Staged {
            path,
            verified: Verified {
                url: url.clone(),
                sha256,
                size: pkg.size,
            },
        }),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

enum StreamFailure {
    TooBig,
    Read(String),
    Write(std::io::Error),
}

/// Copies at most `limit` bytes into a new 0600 file, hashing as it goes.
///
/// Receiving (TLS decryption) runs on this thread while hashing and writing
/// run on another, so on a device with two cores the package costs about
/// as long as the slower of the two, not their sum. A few recycled buffers
/// travel between them: memory stays at (DEPTH + 1) * CHUNK whatever the size.
fn stream(mut body: impl Read, path: &Path, limit: u64) -> Result<(String, u64), StreamFailure> {
    let _ = fs::remove_file(path);
    let file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(StreamFailure::Write)?;
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(DEPTH);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(DEPTH + 1);
    for _ in 0..=DEPTH {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || hash_and_write(file, full_rx, empty_tx));
        let mut total: u64 = 0;
        let received = loop {
            // A closed channel means the writer stopped on an error: join for it.
            let Ok(mut buf) = empty_rx.recv() else {
                break Ok(());
            };
            let n = match fill(&mut body, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(StreamFailure::Read(read_reason(&e))),
            };
            total += n as u64;
            if total > limit {
                break Err(StreamFailure::TooBig);
            }
            if full_tx.send((buf, n)).is_err() {
                break Ok(());
            }
        };
        drop(full_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked")));
        received?;
        let digest = written.map_err(StreamFailure::Write)?;
        Ok((digest, total))
    })
}

/// The writer's half: hash, write, hand the buffer back; sync at the end.
fn hash_and_write(
    mut file: File,
    full: Receiver<(Vec<u8>, usize)>,
    empty: SyncSender<Vec<u8>>,
) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    for (buf, n) in full {
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
        let _ = empty.send(buf);
    }
    file.sync_all()?;
    Ok(HEXLOWER.encode(&hasher.finalize()))
}

/// Reads until `buf` is full or the body ends: fewer, larger hand-overs.
fn fill(body: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match body.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_reason(e: &std::io::Error) -> String {
    // ureq wraps its own errors (timeouts included) in io::Error.
    match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        Some(u) => http::reason(u),
        None => http::io_reason(e),
    }
}

fn check(
    name: &str,
    url: &Url,
    want: &str,
    got: &str,
    want_size: u64,
    got_size: u64,
) -> Result<()> {
    if got_size != want_size {
        return Err(Error::new(
            Step::Download,
            Exit::DataErr,
            format!(
                "{name} from {url} is {got_size} bytes, but the bundle says {want_size}; nothing was installed. Ask your IT admin to check the bundle."
            ),
        ));
    }
    if !got.eq_ignore_ascii_case(want) {
        return Err(Error::new(
            Step::Download,
            Exit::DataErr,
            format!(
                "{name} from {url} has SHA-256 {got}, but the bundle says {}; nothing was installed. Ask your IT admin to check the package.",
                want.to_ascii_lowercase()
            ),
        ));
    }
    Ok(())
}

/// A package that is not what its bundle declares: worth telling the
/// progress log apart from a network failure.
fn unverified(e: Error) -> Error {
    progress::event(Event::VerifyFailed, &e.message);
    e
}

fn too_big(name: &str, url: &Url, limit: u64, detail: &str) -> Error {
    Error::new(
        Step::Download,
        Exit::DataErr,
        format!(
            "{name} from {url} is bigger than the {limit} bytes the bundle declares{detail}; refused, nothing was installed."
        ),
    )
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        Step::Download,
        Exit::CantCreat,
        format!(
            "cannot write {}: {e}; check the state directory (--state-dir) and free space.",
            path.display()
        ),
    )
}

/// The last path segment, for file names in messages.
fn file_name(url: &Url) -> &str {
    url.path_segments()
        .and_then(|mut s| s.rfind(|s| !s.is_empty()))
        .unwrap_or("download")
}

/// A failed package request, in words for the download step; what it
/// means (the exit code) is the one classification of `HttpFailure`.
fn refused(f: HttpFailure, auth: Option<&Auth>) -> Error {
    let exit = f.verdict().exit;
    let advice = match (&f, exit) {
        (HttpFailure::Status { code: 401, url }, _) if !auth.is_some_and(|a| a.covers(url)) => {
            "the login goes only to the server that accepted it; ask your IT admin to serve the package from there, or without a login"
        }
        (HttpFailure::Status { code: 401, .. }, _) => {
            "the server took the login for the bundle but not for the package; ask your IT admin"
        }
        (HttpFailure::Refused(_), _) => "packages must be served over https",
        (_, Exit::TempFail) => "check the network and try again",
        (_, Exit::Config) => "check --ca and --client-cert, or ask your IT admin",
        _ => "ask your IT admin to check the package URL in the bundle",
    };
    Error::new(Step::Download, exit, format!("{f}; {advice}."))
}

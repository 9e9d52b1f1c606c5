//! The Debian package of preconf, built by dist/build-deb from the binary
//! under test: reproducible, owned by root, and installable with dpkg.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use preconf_testlab::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The package's version: Cargo's, a pre-release's `-` made `~`.
fn deb_version() -> String {
    VERSION.replace('-', "~")
}

/// 2023-11-14 22:13:20 UTC: any fixed time will do.
const EPOCH: &str = "1700000000";

/// Every file of the package and its mode; directories are 0755.
const FILES: [(&str, u32); 9] = [
    ("usr/bin/preconf", 0o755),
    ("usr/lib/systemd/system/preconf-firstboot.service", 0o644),
    ("usr/lib/systemd/system/preconf-listen.service", 0o644),
    ("usr/share/applications/preconf-open.desktop", 0o644),
    ("usr/share/doc/preconf/README.md", 0o644),
    ("usr/share/doc/preconf/changelog.gz", 0o644),
    ("usr/share/doc/preconf/copyright", 0o644),
    ("usr/share/lintian/overrides/preconf", 0o644),
    ("usr/share/mime/packages/preconf.xml", 0o644),
];

/// Files installed exactly as they are in dist/.
const FROM_DIST: [(&str, &str); 5] = [
    (
        "usr/lib/systemd/system/preconf-firstboot.service",
        "preconf-firstboot.service",
    ),
    (
        "usr/lib/systemd/system/preconf-listen.service",
        "preconf-listen.service",
    ),
    (
        "usr/share/applications/preconf-open.desktop",
        "preconf-open.desktop",
    ),
    ("usr/share/doc/preconf/copyright", "copyright"),
    ("usr/share/mime/packages/preconf.xml", "preconf.xml"),
];

#[test]
fn deb_is_reproducible_and_owned_by_root() {
    let dir = temp_dir();
    let bin = packaged_binary(dir.path());
    let first = build_deb(&bin, &dir.path().join("a"), "022");
    // A later second and another umask: neither may show in the package.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = build_deb(&bin, &dir.path().join("b"), "077");
    assert_eq!(
        first.file_name().unwrap().to_str().unwrap(),
        format!("preconf_{}_{}.deb", deb_version(), debian_arch())
    );
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "two builds differ: compare them with diffoscope"
    );

    let field = |name: &str| dpkg_deb(&["--field", &path_str(&first), name]);
    assert_eq!(field("Package"), "preconf\n");
    assert_eq!(field("Version"), format!("{}\n", deb_version()));
    assert_eq!(field("Architecture"), format!("{}\n", debian_arch()));
    assert_eq!(field("Section"), "admin\n");
    assert!(field("Maintainer").contains('@'));
    assert!(field("Installed-Size").trim().parse::<u64>().unwrap() > 0);
    assert!(dpkg_deb(&["--info", &path_str(&first)]).contains("md5sums"));

    // tar's listing: mode, owner/group, size, date, time, path.
    let listing = dpkg_deb(&["--contents", &path_str(&first)]);
    let mut paths = Vec::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "root/root", "{line}");
        assert_eq!(&cols[3..5], ["2023-11-14", "22:13"], "{line}");
        if cols[0].starts_with('-') {
            paths.push(cols[5].trim_start_matches("./"));
        } else {
            assert_eq!(cols[0], "drwxr-xr-x", "{line}");
        }
    }
    let expected: Vec<&str> = FILES.iter().map(|(p, _)| *p).collect();
    assert_eq!(paths, expected, "{listing}");
}

#[test]
fn deb_installs_with_dpkg_into_a_root() {
    need_root("dpkg installs packages only as root, into a temporary root too");
    let dir = temp_dir();
    let deb = build_deb(&packaged_binary(dir.path()), &dir.path().join("out"), "022");
    let root = dir.path().join("root");
    dpkg_install(&root, &deb);

    for (path, mode) in FILES {
        let meta = std::fs::metadata(root.join(path)).unwrap();
        assert!(meta.is_file(), "{path}");
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path}");
    }
    for (path, name) in FROM_DIST {
        assert_eq!(read(&root.join(path)), read(&dist(name)), "{path}");
    }
    // dpkg's own check of every file against the package's md5sums.
    let verify = dpkg(&root, &["--verify", "preconf"]);
    assert_eq!(verify.stdout + &verify.stderr, "");
    let status = dpkg_query(&root, "${Status} ${Version}");
    assert_eq!(status, format!("install ok installed {}", deb_version()));

    let version = installed_preconf(&root, &["--version"]);
    assert!(
        version.starts_with(&format!("preconf {VERSION} (")),
        "{version}"
    );

    // What the README tells the vendor to do with an image.
    let enable = systemctl(&root, &["enable", "preconf-firstboot.service"]);
    assert!(
        enable.stderr.contains("Created symlink"),
        "{}",
        enable.stderr
    );
    let link = root.join("etc/systemd/system/multi-user.target.wants/preconf-firstboot.service");
    assert_eq!(
        std::fs::read_link(link).unwrap(),
        Path::new("/usr/lib/systemd/system/preconf-firstboot.service")
    );
    let enabled = systemctl(&root, &["is-enabled", "preconf-firstboot.service"]);
    assert_eq!(enabled.stdout.trim(), "enabled");
}

#[test]
fn build_deb_refuses_a_missing_binary() {
    let dir = temp_dir();
    let missing = dir.path().join("no-such-preconf");
    let mut c = Command::new(dist("build-deb"));
    c.args(["--bin", &path_str(&missing), "--arch", "amd64", "--out"])
        .arg(dir.path());
    Run::of(c).fails(1, "no-such-preconf: no such executable");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The binary to package. A native debug build is mostly debug info,
/// which would make compressing it most of the test: a stripped copy is
/// packaged instead. A cross build (run through PRECONF_TEST_RUNNER) is a
/// stripped release build already, and the host's strip cannot read it.
fn packaged_binary(dir: &Path) -> PathBuf {
    if emulated() {
        return bin();
    }
    let copy = dir.join("preconf");
    let mut c = Command::new("strip");
    c.arg("-o").arg(&copy).arg(bin());
    Run::of(c).ok();
    copy
}

/// Runs dist/build-deb --fast under `umask` and returns the package.
fn build_deb(bin: &Path, out: &Path, umask: &str) -> PathBuf {
    let mut c = Command::new("sh");
    c.args(["-c", "umask \"$1\"; shift; exec \"$@\"", "sh", umask])
        .arg(dist("build-deb"))
        .args(["--fast", "--arch", debian_arch(), "--bin"])
        .arg(bin)
        .arg("--out")
        .arg(out)
        .env("SOURCE_DATE_EPOCH", EPOCH);
    let run = Run::of(c);
    run.ok();
    assert_eq!(run.stderr, "", "build-deb warned");
    PathBuf::from(run.stdout.trim())
}

/// Installs `deb` into `root`, a fresh root with an empty dpkg database.
/// The package has no maintainer scripts, so neither
/// --force-script-chrootless nor a chroot is needed.
fn dpkg_install(root: &Path, deb: &Path) {
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d)).unwrap();
    }
    for f in ["status", "available"] {
        std::fs::write(admin.join(f), b"").unwrap();
    }
    std::fs::create_dir_all(root.join("var/log")).unwrap();
    // A cross build's package is foreign to the host's dpkg: forced, as
    // the README says for an image of another architecture (nothing of the
    // package runs at install time).
    let native = Run::of({
        let mut c = Command::new("dpkg");
        c.arg("--print-architecture");
        c
    });
    let deb = path_str(deb);
    let mut args = vec!["-i", deb.as_str()];
    if native.stdout.trim() != debian_arch() {
        args.insert(0, "--force-architecture");
    }
    dpkg(root, &args);
}

/// dpkg acting on `root` alone, its log kept there; fails the test unless
/// it succeeds.
fn dpkg(root: &Path, args: &[&str]) -> Run {
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", root.display()))
        .arg(format!("--log={}", root.join("var/log/dpkg.log").display()))
        .args(args);
    let run = Run::of(c);
    run.ok();
    run
}

fn dpkg_query(root: &Path, format: &str) -> String {
    let mut c = Command::new("dpkg-query");
    c.arg(format!("--root={}", root.display()))
        .args(["-W", "-f", format, "preconf"]);
    let run = Run::of(c);
    run.ok();
    run.stdout
}

fn dpkg_deb(args: &[&str]) -> String {
    let mut c = Command::new("dpkg-deb");
    c.args(args).env("TZ", "UTC");
    let run = Run::of(c);
    run.ok();
    run.stdout
}

fn systemctl(root: &Path, args: &[&str]) -> Run {
    let mut c = Command::new("systemctl");
    c.arg(format!("--root={}", root.display())).args(args);
    let run = Run::of(c);
    run.ok();
    run
}

/// The installed /usr/bin/preconf's output, run through the emulator when
/// the binary under test needs one.
fn installed_preconf(root: &Path, args: &[&str]) -> String {
    let mut argv = argv0();
    *argv.last_mut().unwrap() = path_str(&root.join("usr/bin/preconf"));
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]).args(args);
    let run = Run::of(c);
    run.ok();
    run.stdout
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("a UTF-8 temporary path").to_string()
}

//! The first-boot unit in dist/: systemd accepts it, and it runs only
//! until preconf has written its receipt.

use std::path::{Path, PathBuf};
use std::process::Command;

use preconf_testlab::*;

const UNIT: &str = "preconf-firstboot.service";
const LISTEN_UNIT: &str = "preconf-listen.service";
const EXEC: &str = "ExecStart=/usr/bin/preconf";

#[test]
fn firstboot_unit_passes_systemd_analyze_verify() {
    // verify checks that ExecStart's program exists and is executable, and
    // /usr/bin/preconf is not installed here. `--root=` would need a root
    // holding systemd's own units (sysinit.target and the rest) as well, so
    // the unit is verified as a copy whose ExecStart names the binary under
    // test; the copy differs in that line alone.
    let dir = temp_dir();
    let unit = unit_running(dir.path(), UNIT, &bin());
    let run = analyze(&["verify", &path_str(&unit)]);
    // Unknown keys and the like are only warned about, exit 0: any output
    // at all fails the test.
    assert_eq!(
        (run.code, run.stdout.trim(), run.stderr.trim()),
        (Some(0), "", "")
    );

    // The check above is real: a missing program fails it.
    let missing = unit_running(dir.path(), UNIT, &dir.path().join("no-such-preconf"));
    let run = analyze(&["verify", &path_str(&missing)]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("is not executable"), "{}", run.stderr);
}

#[test]
fn firstboot_unit_runs_until_preconf_has_written_its_receipt() {
    let mut lab = Lab::new();
    let std = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", std.routes);
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 10, port)]));
    // The unit's conditions, their paths taken under the lab's root.
    let conditions = conditions_under(&lab.root());
    assert!(!conditions.is_empty(), "the unit has no Condition lines");

    let fresh = condition(&conditions);
    assert_eq!(
        fresh.code,
        Some(0),
        "skipped on a fresh device: {}",
        fresh.stderr
    );

    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN]);
    Run::of(c).ok();

    let done = condition(&conditions);
    assert_eq!(
        done.code,
        Some(1),
        "runs again when provisioned: {}",
        done.stderr
    );
    assert!(
        done.stderr.contains("receipt.json failed"),
        "{}",
        done.stderr
    );
}

#[test]
fn listen_unit_passes_systemd_analyze_verify() {
    let dir = temp_dir();
    let unit = unit_running(dir.path(), LISTEN_UNIT, &bin());
    let run = analyze(&["verify", &path_str(&unit)]);
    assert_eq!(
        (run.code, run.stdout.trim(), run.stderr.trim()),
        (Some(0), "", "")
    );
    let text = read(&unit);
    assert!(
        text.contains(&format!("ExecStart={} listen\n", bin().display())),
        "{text}"
    );
}

/// A copy of `unit` in `dir` (under its own name, so systemd sees the
/// same unit) whose ExecStart runs `program`, with the same arguments.
fn unit_running(dir: &Path, unit: &str, program: &Path) -> PathBuf {
    let text = read(&dist(unit));
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ExecStart=")).count(),
        1,
        "one ExecStart expected:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == EXEC || l.starts_with(&format!("{EXEC} "))),
        "no {EXEC}:\n{text}"
    );
    let sub = dir.join(program.file_name().unwrap());
    std::fs::create_dir_all(&sub).unwrap();
    let copy = sub.join(unit);
    let exec = format!("ExecStart={}", program.display());
    std::fs::write(&copy, text.replace(EXEC, &exec)).unwrap();
    copy
}

/// The unit's `Condition…=` lines, with every absolute path (after an
/// optional `!`) taken under `root`.
fn conditions_under(root: &Path) -> Vec<String> {
    read(&dist(UNIT))
        .lines()
        .filter(|l| l.starts_with("Condition"))
        .map(|l| {
            let (key, value) = l.split_once('=').unwrap();
            let (not, path) = value.split_at(usize::from(value.starts_with('!')));
            assert!(path.starts_with('/'), "not a path condition: {l}");
            format!("{key}={not}{}{path}", root.display())
        })
        .collect()
}

fn analyze(args: &[&str]) -> Run {
    let mut c = Command::new("systemd-analyze");
    c.args(args);
    Run::of(c)
}

/// Whether systemd would start a unit with these conditions: exit 0 if
/// so, 1 if not.
fn condition(conditions: &[String]) -> Run {
    let mut c = Command::new("systemd-analyze");
    c.arg("condition").args(conditions);
    Run::of(c)
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("a UTF-8 temporary path").to_string()
}

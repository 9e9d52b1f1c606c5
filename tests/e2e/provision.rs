//! The happy path and what it leaves behind.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use preconf_testlab::*;

fn standard_lab() -> (Lab, Standard) {
    let mut lab = Lab::new();
    let std = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", std.routes.clone());
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 10, port)]));
    (lab, std)
}

#[test]
fn exec_package_is_installed_and_handed_over() {
    let (lab, std) = standard_lab();
    let run = Run::of({
        let mut c = lab.preconf();
        c.args(["--domain", DOMAIN]);
        c
    });
    run.ok();
    for step in [
        "domain: example.test",
        "discover: SRV _maemo_autoconf._tcp.example.test",
        "credentials: login jdoe",
        "fetch: bundle from https://cfg1.example.test:",
        "download:",
        "install: placed",
        "handoff: starting",
    ] {
        run.says(step);
    }
    let installed = lab.root().join("usr/bin/corp-configurator");
    assert_eq!(std::fs::read(&installed).unwrap(), std.script);
    assert_eq!(
        std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
        0o755
    );

    // The configurator ran, from the root, with the documented environment.
    let handoff = read(&lab.root().join("handoff.txt"));
    let state = lab.state();
    assert!(handoff.contains("args=--enroll"), "{handoff}");
    assert!(
        handoff.contains(&format!(
            "PRECONF_BUNDLE={}",
            state.join("bundle.json").display()
        )),
        "{handoff}"
    );
    assert!(handoff.contains("PRECONF_DEVICE_ID=DEV-0001"), "{handoff}");
    assert!(
        handoff.contains("PRECONF_CONFIG_URL=https://cfg.example.test/devices/DEV-0001/config"),
        "{handoff}"
    );
    assert!(
        handoff.contains(&format!(
            "PRECONF_CERT_DIR={}",
            state.join("certs").display()
        )),
        "{handoff}"
    );
    assert!(
        handoff.contains(&format!("PRECONF_ROOT={}", lab.root().display())),
        "{handoff}"
    );
    assert!(
        handoff.contains("PRECONF_SERVER=https://cfg1.example.test:"),
        "{handoff}"
    );
    assert!(
        !handoff.contains("PRECONF_PASSWORD"),
        "the password leaked into the configurator's environment: {handoff}"
    );

    // Secrets are private; the receipt is the last word.
    for f in ["bundle.json", "certs/corp-root.pem"] {
        let mode = std::fs::metadata(state.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    assert_eq!(
        read(&state.join("certs/corp-root.pem")),
        lab.server_ca.pem()
    );
    assert!(read(&state.join("bundle.json")).contains("device-secret"));
    let receipt = read(&state.join("receipt.json"));
    assert!(receipt.contains(&sha256_hex(&std.script)), "{receipt}");
    assert!(receipt.contains("\"domain\":\"example.test\""), "{receipt}");
    assert!(!state.join("staging").exists(), "staging area left behind");
    // Never the password, in anything the run printed.
    assert!(!run.stderr.contains(PASSWORD) && !run.stdout.contains(PASSWORD));
}

#[test]
fn deb_package_is_installed_with_dpkg_into_the_root() {
    need_root("dpkg installs packages only as root, into a temporary root too");
    let mut lab = Lab::new();
    let deb = build_deb(&lab);
    let this_arch = debian_arch();
    let bundle = bundle_json(
        &[
            Pkg {
                arch: "any",
                kind: "exec",
                url: "pkgs/not-this.sh",
                sha256: "0".repeat(64),
                size: 1,
                path: Some("/usr/bin/wrong"),
            },
            Pkg {
                arch: this_arch,
                kind: "deb",
                url: "/pkgs/corp_1.0_all.deb",
                sha256: sha256_hex(&deb),
                size: deb.len() as u64,
                path: None,
            },
        ],
        &["/usr/bin/corp-configurator", "--enroll"],
        &[],
    );
    let port = lab.serve(
        "cfg1.example.test",
        HashMap::from([
            ("/bundle".to_string(), Reply::Body(bundle.into_bytes())),
            ("/pkgs/corp_1.0_all.deb".to_string(), Reply::Body(deb)),
        ]),
    );
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN]);
    let run = Run::of(c);
    run.ok()
        .says(&format!("(deb package for {this_arch})"))
        .says("install: installed with dpkg into");
    let status = read(&lab.root().join("var/lib/dpkg/status"));
    assert!(
        status.contains("Package: corp-configurator")
            && status.contains("Status: install ok installed"),
        "{status}"
    );
    assert_eq!(
        read(&lab.root().join("var/lib/corp/postinst-ran")).trim(),
        "configure"
    );
    let env = read(&lab.root().join("var/lib/corp/postinst-env"));
    assert!(
        env.contains("DPKG_ROOT=") && !env.contains("PRECONF_PASSWORD"),
        "the package's scripts saw the password:\n{env}"
    );
    assert!(read(&lab.root().join("var/log/dpkg.log")).contains("corp-configurator"));
    assert!(read(&lab.root().join("handoff.txt")).contains("args=--enroll"));
    // dpkg's chatter goes to stderr: stdout stays clean.
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn broken_deb_fails_cleanly() {
    need_root("dpkg installs packages only as root, into a temporary root too");
    let mut lab = Lab::new();
    let junk = b"!<arch>\nnot really a deb".to_vec();
    let bundle = bundle_json(
        &[Pkg {
            arch: "any",
            kind: "deb",
            url: "corp.deb",
            sha256: sha256_hex(&junk),
            size: junk.len() as u64,
            path: None,
        }],
        &["/usr/bin/corp-configurator"],
        &[],
    );
    let port = lab.serve(
        "cfg1.example.test",
        HashMap::from([
            ("/bundle".to_string(), Reply::Body(bundle.into_bytes())),
            ("/corp.deb".to_string(), Reply::Body(junk)),
        ]),
    );
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN]);
    Run::of(c)
        .fails(65, "install: dpkg -i")
        .says("Nothing else was changed");
    assert!(!lab.state().join("receipt.json").exists());
    assert!(!lab.state().join("bundle.json").exists());
}

#[test]
fn no_exec_then_status_then_nothing_to_do() {
    let (lab, std) = standard_lab();
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec"]);
    let run = Run::of(c);
    run.ok();
    assert_eq!(
        run.stdout.trim(),
        format!(
            "{} --enroll",
            lab.root().join("usr/bin/corp-configurator").display()
        )
    );
    assert!(
        !lab.root().join("handoff.txt").exists(),
        "--no-exec ran the configurator"
    );

    let mut c = lab.preconf();
    c.arg("status");
    let status = Run::of(c);
    status.ok();
    assert!(
        status.stdout.contains("domain       example.test"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(&sha256_hex(&std.script)),
        "{}",
        status.stdout
    );

    let mut c = lab.preconf();
    c.args(["status", "--json"]);
    let json = Run::of(c);
    json.ok();
    assert!(
        json.stdout.starts_with('{')
            && json
                .stdout
                .contains("\"command\":[\"/usr/bin/corp-configurator\",\"--enroll\"]"),
        "{}",
        json.stdout
    );

    let before = lab.servers[0].requests().len();
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN]);
    Run::of(c)
        .ok()
        .says("nothing to do (pass --force to provision again");
    assert_eq!(
        lab.servers[0].requests().len(),
        before,
        "a provisioned device asked the server again"
    );

    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--force"]);
    Run::of(c).ok().says("handoff: starting");
    assert!(lab.root().join("handoff.txt").exists());
}

#[test]
fn status_without_receipt() {
    let lab = Lab::new();
    let mut c = lab.preconf();
    c.arg("status");
    Run::of(c).fails(66, "this device is not provisioned (no receipt in");
}

#[test]
fn state_dir_override() {
    let (lab, _) = standard_lab();
    let state = lab.path("elsewhere");
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec", "--state-dir"])
        .arg(&state);
    Run::of(c).ok();
    assert!(state.join("receipt.json").is_file() && state.join("bundle.json").is_file());
    assert!(!lab.state().exists());
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn help_and_usage_errors() {
    let help = Run::of({
        let mut c = command();
        c.arg("--help");
        c
    });
    help.ok();
    for word in [
        "_maemo_autoconf._tcp",
        "PRECONF_ASKPASS",
        "--lease-file PATH...",
        "Exit codes",
    ] {
        assert!(help.stdout.contains(word), "--help lacks {word}");
    }
    let bad = Run::of({
        let mut c = command();
        c.args(["--password", "x"]);
        c
    });
    bad.fails(64, "unknown option --password; see preconf --help.");
    let version = Run::of({
        let mut c = command();
        c.arg("--version");
        c
    });
    assert!(
        version.stdout.starts_with("preconf 0."),
        "{}",
        version.stdout
    );
}

/// A static binary must not depend on NSS: nothing may reach libc's
/// resolver. Checked on the binary under test, a cross build too (nm reads
/// any ELF). Symbols tell when it has them (the test build); a stripped one
/// (a release build) keeps only its dynamic symbols, so there the strings
/// a libc resolver brings along tell instead: musl's and glibc's alike read
/// /etc/hosts and /etc/services, and std's getaddrinfo error names it.
#[test]
fn binary_never_links_the_libc_resolver() {
    let bin = bin();
    let nm = |args: &[&str]| {
        let out = std::process::Command::new("nm")
            .args(args)
            .arg(&bin)
            .output()
            .expect("nm (binutils) is needed for this test");
        assert!(
            out.status.success(),
            "nm: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut symbols = nm(&[]);
    if symbols.is_empty() {
        // Stripped: the imports of a dynamic binary, and the bytes.
        symbols = nm(&["-D"]);
        let bytes = std::fs::read(&bin).unwrap();
        let holds = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
        assert!(
            holds("/etc/resolv.conf"),
            "{} is stripped and lacks even preconf's own strings",
            bin.display()
        );
        for s in [
            "/etc/hosts",
            "/etc/services",
            "failed to lookup address information",
        ] {
            assert!(
                !holds(s),
                "the stripped binary {} holds {s:?}: it links a libc resolver",
                bin.display()
            );
        }
    } else {
        assert!(symbols.contains("preconf"), "nm listed no symbols of ours");
    }
    for f in ["getaddrinfo", "gethostbyname", "getnameinfo"] {
        assert!(
            !symbols
                .lines()
                .any(|l| l.ends_with(f) || l.contains(&format!(" {f}@"))),
            "the binary links {f}"
        );
    }
}

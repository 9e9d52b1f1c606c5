//! What the server can get wrong, and what the person can: each ends in one
//! clear sentence, the right exit code, and nothing half-installed.

use std::collections::HashMap;

use preconf_testlab::*;

fn lab_with(routes: HashMap<String, Reply>) -> Lab {
    let mut lab = Lab::new();
    let port = lab.serve("cfg1.example.test", routes);
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    lab
}

fn run(lab: &Lab, extra: &[&str]) -> Run {
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec"]).args(extra);
    Run::of(c)
}

/// Nothing was installed and no receipt claims otherwise.
#[track_caller]
fn nothing_installed(lab: &Lab) {
    assert!(
        !lab.root().join("usr/bin/corp-configurator").exists(),
        "package installed"
    );
    assert!(
        !lab.state().join("receipt.json").exists(),
        "receipt written"
    );
    assert!(!lab.state().join("bundle.json").exists(), "bundle stored");
    let staging = lab.state().join("staging");
    assert!(
        !staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none(),
        "staging file left"
    );
}

fn with_package(lab: &Lab, body: Reply, sha256: &str, size: u64) -> HashMap<String, Reply> {
    let bundle = bundle_json(
        &[Pkg {
            arch: "any",
            kind: "exec",
            url: "pkgs/corp.sh",
            sha256: sha256.to_string(),
            size,
            path: Some("/usr/bin/corp-configurator"),
        }],
        &["/usr/bin/corp-configurator"],
        &[("corp-root", &lab.server_ca.pem())],
    );
    HashMap::from([
        ("/bundle".to_string(), Reply::Body(bundle.into_bytes())),
        ("/pkgs/corp.sh".to_string(), body),
    ])
}

#[test]
fn wrong_checksum_installs_nothing_and_names_both_digests() {
    let script = configurator_script();
    let wrong = sha256_hex(b"something else");
    let lab = lab_with(with_package(
        &Lab::new(),
        Reply::Body(script.clone()),
        &wrong,
        script.len() as u64,
    ));
    let run = run(&lab, &[]);
    run.fails(65, "corp.sh from https://cfg1.example.test:")
        .says(&sha256_hex(&script))
        .says(&wrong)
        .says("nothing was installed");
    nothing_installed(&lab);
}

#[test]
fn body_larger_than_declared_is_refused() {
    let script = configurator_script();
    let sha = sha256_hex(&script);
    let small = script.len() as u64 - 10;
    // Announced up front with Content-Length.
    let lab = lab_with(with_package(
        &Lab::new(),
        Reply::Body(script.clone()),
        &sha,
        small,
    ));
    run(&lab, &[]).fails(
        65,
        &format!(
            "bigger than the {small} bytes the bundle declares (the server announced {})",
            script.len()
        ),
    );
    nothing_installed(&lab);
    // Chunked: only counting the bytes finds out.
    let lab = lab_with(with_package(
        &Lab::new(),
        Reply::Chunked(vec![b'x'; 50_000]),
        &sha,
        20_000,
    ));
    run(&lab, &[]).fails(
        65,
        "bigger than the 20000 bytes the bundle declares; refused",
    );
    nothing_installed(&lab);
}

#[test]
fn body_shorter_than_declared_is_refused() {
    let script = configurator_script();
    let lab = lab_with(with_package(
        &Lab::new(),
        Reply::Chunked(script.clone()),
        &sha256_hex(&script),
        script.len() as u64 + 5,
    ));
    run(&lab, &[]).fails(65, "but the bundle says");
    nothing_installed(&lab);
}

#[test]
fn malformed_bundles_are_named() {
    for (body, says) in [
        (
            &b"<html>oops</html>"[..],
            "is not valid JSON (expected a value at byte 0)",
        ),
        (
            br#"{"format": 1, "configurator": {"name": "x", "command": ["/x"]}}"#,
            "packages",
        ),
        (
            br#"{"format": 9, "configurator": {"name": "x", "command": ["/x"], "packages": []}}"#,
            "it is format 9",
        ),
        (br#"{"format": 1}"#, "names no configurator"),
    ] {
        let lab = lab_with(HashMap::from([(
            "/bundle".to_string(),
            Reply::Body(body.to_vec()),
        )]));
        let run = run(&lab, &[]);
        run.fails(65, "bundle: the bundle from https://cfg1.example.test:")
            .says(says)
            .says("ask your IT admin");
        nothing_installed(&lab);
    }
}

#[test]
fn oversized_bundle_is_refused() {
    let lab = lab_with(HashMap::from([(
        "/bundle".to_string(),
        Reply::Pattern(5 << 20),
    )]));
    run(&lab, &[]).fails(65, "sent more than 1024 KiB, which is not a bundle");
}

#[test]
fn no_package_for_this_architecture() {
    let bundle = bundle_json(
        &[Pkg {
            arch: "mips",
            kind: "exec",
            url: "x",
            sha256: "0".repeat(64),
            size: 1,
            path: Some("/x"),
        }],
        &["/x"],
        &[],
    );
    let lab = lab_with(HashMap::from([(
        "/bundle".to_string(),
        Reply::Body(bundle.into_bytes()),
    )]));
    run(&lab, &[]).fails(
        65,
        &format!(
            "no package for this device's architecture {} (offered: mips)",
            target_arch()
        ),
    );
    nothing_installed(&lab);
}

#[test]
fn wrong_password_from_environment_is_final() {
    let lab = lab_with(standard_routes(&Lab::new()).routes);
    let mut c = lab.preconf();
    c.env("PRECONF_PASSWORD", "wrong")
        .args(["--domain", DOMAIN]);
    Run::of(c).fails(
        77,
        "refused the login jdoe (1 try); check the login and password in PRECONF_PASSWORD",
    );
    assert_eq!(
        lab.servers[0].requests().len(),
        1,
        "a fixed password is not retried"
    );
    nothing_installed(&lab);
}

#[test]
fn wrong_password_then_right_via_askpass() {
    let lab = lab_with(standard_routes(&Lab::new()).routes);
    let helper = askpass(&lab, "my-askpass", &["wrong", PASSWORD]);
    let mut c = lab.preconf();
    c.env_remove("PRECONF_PASSWORD")
        .env("PRECONF_ASKPASS", &helper)
        .args(["--domain", DOMAIN, "--no-exec"]);
    let run = Run::of(c);
    run.ok()
        .says("refused the login jdoe; try again")
        .says("password from PRECONF_ASKPASS");
    let asked = read(&lab.path("asked"));
    assert_eq!(asked.lines().count(), 2, "{asked}");
    assert!(
        asked.starts_with("|Password for jdoe at cfg1.example.test: "),
        "{asked}"
    );
}

#[test]
fn three_refusals_end_the_run() {
    let lab = lab_with(standard_routes(&Lab::new()).routes);
    let helper = askpass(&lab, "my-askpass", &["a", "b", "c", PASSWORD]);
    let mut c = lab.preconf();
    c.env_remove("PRECONF_PASSWORD")
        .env("PRECONF_ASKPASS", &helper)
        .args(["--domain", DOMAIN]);
    Run::of(c).fails(77, "refused the login jdoe (3 tries)");
    assert_eq!(read(&lab.path("asked")).lines().count(), 3);
}

#[test]
fn failed_reprovision_leaves_previous_state() {
    let lab0 = Lab::new();
    let s = standard_routes(&lab0);
    let mut lab = lab_with(s.routes.clone());
    run(&lab, &[]).ok();
    let receipt = read(&lab.state().join("receipt.json"));
    let bundle = read(&lab.state().join("bundle.json"));
    // The server now publishes a package that does not match its checksum.
    let port = lab.serve(
        "cfg1.example.test",
        with_package(
            &lab0,
            Reply::Body(b"tampered".to_vec()),
            &sha256_hex(&s.script),
            8,
        ),
    );
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    run(&lab, &["--force"]).fails(65, "nothing was installed");
    assert_eq!(read(&lab.state().join("receipt.json")), receipt);
    assert_eq!(read(&lab.state().join("bundle.json")), bundle);
    assert_eq!(
        std::fs::read(lab.root().join("usr/bin/corp-configurator")).unwrap(),
        s.script
    );
}

#[test]
fn whole_run_deadline() {
    let lab = lab_with(HashMap::from([("/bundle".to_string(), Reply::Stall)]));
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--io-timeout", "30", "--timeout", "1"]);
    let t0 = std::time::Instant::now();
    Run::of(c).fails(75, "deadline: the run did not finish in time (--timeout)");
    // Not a timing assertion: only that the 30 s read timeout did not decide.
    assert!(t0.elapsed() < std::time::Duration::from_secs(25));
}

#[test]
fn missing_server_path_is_not_found() {
    let lab = lab_with(HashMap::new());
    run(&lab, &[]).fails(
        69,
        "answered 404, not a bundle; check the server URL or the TXT path= record",
    );
}

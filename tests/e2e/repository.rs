//! Packages from a repository: the bundle names an apt repository and a
//! package, and apt-get installs it into the root, never touching the host.

use std::collections::HashMap;
use std::process::Command;

use preconf_testlab::*;

/// A flat repository (dpkg-scanpackages) holding the test configurator.
fn flat_repository(lab: &Lab) -> std::path::PathBuf {
    build_deb(lab);
    let repo = lab.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::rename(
        lab.path("corp-configurator_1.0_all.deb"),
        repo.join("corp-configurator_1.0_all.deb"),
    )
    .unwrap();
    let out = Command::new("dpkg-scanpackages")
        .args(["--multiversion", "."])
        .current_dir(&repo)
        .output()
        .expect("dpkg-scanpackages (Debian package dpkg-dev) is needed for this test");
    assert!(
        out.status.success(),
        "dpkg-scanpackages: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(repo.join("Packages"), &out.stdout).unwrap();
    repo
}

/// A lab whose server's bundle asks apt for `package` from a flat file
/// repository holding the test configurator; returns it with the repository.
fn apt_lab(package: &str) -> (Lab, std::path::PathBuf) {
    need_root("apt-get and dpkg install packages only as root, into a temporary root too");
    let mut lab = Lab::new();
    let repo = flat_repository(&lab);
    let bundle = format!(
        r#"{{ "format": 1, "device": {{ "id": "DEV-APT" }},
  "repositories": [{{ "name": "corp", "uri": "file:{}", "suite": "./", "trusted": true }}],
  "configurator": {{ "name": "corp-configurator", "command": ["/usr/bin/corp-configurator", "--enroll"],
    "packages": [ {{ "arch": "any", "type": "apt", "name": "{package}" }} ] }} }}"#,
        repo.display()
    );
    let port = lab.serve(
        "cfg1.example.test",
        HashMap::from([("/bundle".to_string(), Reply::Body(bundle.into_bytes()))]),
    );
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 1, port)]));
    (lab, repo)
}

#[test]
fn apt_package_from_bundle_repository_into_the_root() {
    let (lab, repo) = apt_lab("corp-configurator");
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN]);
    let run = Run::of(c);
    run.ok()
        .says("(apt package for any)")
        .says("install: installed corp-configurator with apt-get from 1 repository");
    assert!(
        run.stdout.is_empty(),
        "apt's output belongs on stderr: {}",
        run.stdout
    );

    let root = lab.root();
    assert_eq!(
        read(&root.join("etc/apt/sources.list.d/preconf.list"))
            .lines()
            .last()
            .unwrap(),
        format!("deb [trusted=yes] file:{} ./", repo.display())
    );
    let status = read(&root.join("var/lib/dpkg/status"));
    assert!(
        status.contains("Package: corp-configurator")
            && status.contains("Status: install ok installed"),
        "{status}"
    );
    assert_eq!(
        read(&root.join("var/lib/corp/postinst-ran")).trim(),
        "configure"
    );
    assert!(
        !read(&root.join("var/lib/corp/postinst-env")).contains("PRECONF_PASSWORD"),
        "apt's scripts saw the password"
    );
    assert!(read(&root.join("handoff.txt")).contains("PRECONF_DEVICE_ID=DEV-APT"));
    assert!(read(&lab.state().join("receipt.json")).contains("\"url\":\"apt:corp-configurator\""));
    // The host's package database never heard of it.
    let host = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    assert!(
        !host.contains("Package: corp-configurator"),
        "installed on the host"
    );
}

#[test]
fn unknown_apt_package_fails_cleanly() {
    let (lab, _) = apt_lab("no-such-package");
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN]);
    Run::of(c)
        .fails(69, "apt-get install failed")
        .says("check the bundle's repositories");
    assert!(!lab.state().join("receipt.json").exists());
}

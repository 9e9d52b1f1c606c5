//! The happy path and what it leaves behind.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

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
    for step in ["domain: example.test", "discover: SRV _maemo_autoconf._tcp.example.test", "credentials: login jdoe", "fetch: bundle from https://cfg1.example.test:", "download:", "install: placed", "handoff: starting"] {
        run.says(step);
    }
    let installed = lab.root().join("usr/bin/corp-configurator");
    assert_eq!(std::fs::read(&installed).unwrap(), std.script);
    assert_eq!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777, 0o755);

    // The configurator ran, from the root, with the documented environment.
    let handoff = read(&lab.root().join("handoff.txt"));
    let state = lab.state();
    assert!(handoff.contains("args=--enroll"), "{handoff}");
    assert!(handoff.contains(&format!("PRECONF_BUNDLE={}", state.join("bundle.json").display())), "{handoff}");
    assert!(handoff.contains("PRECONF_DEVICE_ID=DEV-0001"), "{handoff}");
    assert!(handoff.contains("PRECONF_CONFIG_URL=https://cfg.example.test/devices/DEV-0001/config"), "{handoff}");
    assert!(handoff.contains(&format!("PRECONF_CERT_DIR={}", state.join("certs").display())), "{handoff}");
    assert!(handoff.contains(&format!("PRECONF_ROOT={}", lab.root().display())), "{handoff}");
    assert!(handoff.contains("PRECONF_SERVER=https://cfg1.example.test:"), "{handoff}");
    assert!(!handoff.contains("PRECONF_PASSWORD"), "the password leaked into the configurator's environment: {handoff}");

    // Secrets are private; the receipt is the last word.
    for f in ["bundle.json", "certs/corp-root.pem"] {
        let mode = std::fs::metadata(state.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    assert_eq!(read(&state.join("certs/corp-root.pem")), lab.server_ca.pem());
    assert!(read(&state.join("bundle.json")).contains("device-secret"));
    let receipt = read(&state.join("receipt.json"));
    assert!(receipt.contains(&sha256_hex(&std.script)), "{receipt}");
    assert!(receipt.contains("\"domain\":\"example.test\""), "{receipt}");
    assert!(!state.join("staging").exists(), "staging area left behind");
    // Never the password, in anything the run printed.
    assert!(!run.stderr.contains(PASSWORD) && !run.stdout.contains(PASSWORD));
}

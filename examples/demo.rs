//! The whole job on this machine alone: a DNS server and an HTTPS server on
//! 127.0.0.1 publish a company's configurator, and the real `preconf`
//! binary provisions a temporary root from them, showing every step.
//!
//!     cargo build --release --bin preconf --example demo && target/release/examples/demo
//!
//! Pass `--keep` to keep the temporary directory for a look around.

use std::collections::HashMap;
use std::process::Command;

use preconf_testlab::*;

/// The company's configurator: here a script that reports what it was given.
const CONFIGURATOR: &str = r#"#!/bin/sh
echo
echo "corp-configurator: started as $0 $*"
echo "corp-configurator: device $PRECONF_DEVICE_ID, config at $PRECONF_CONFIG_URL"
echo "corp-configurator: bundle $PRECONF_BUNDLE, certificates in $PRECONF_CERT_DIR"
echo "corp-configurator: this is where the real device configuration would begin."
"#;

fn main() {
    let keep = std::env::args().any(|a| a == "--keep");
    let bin = match find_bin() {
        Ok(bin) if bin.is_file() => bin,
        found => {
            let what = found.map_or_else(|e| e, |b| format!("{} is missing", b.display()));
            eprintln!(
                "demo: {what}; build it first: cargo build --release --bin preconf --example demo"
            );
            std::process::exit(66);
        }
    };
    let mut lab = Lab::new();
    let script = CONFIGURATOR.as_bytes().to_vec();
    let bundle = bundle_json(
        &[Pkg {
            arch: "any",
            kind: "exec",
            url: "pkgs/corp-configurator.sh",
            sha256: sha256_hex(&script),
            size: script.len() as u64,
            path: Some("/usr/bin/corp-configurator"),
        }],
        &["/usr/bin/corp-configurator", "--enroll"],
        &[("corp-root", &lab.server_ca.pem())],
    );
    let port = lab.serve(
        "cfg.example.test",
        HashMap::from([
            ("/bundle".to_string(), Reply::Body(bundle.into_bytes())),
            (
                "/pkgs/corp-configurator.sh".to_string(),
                Reply::Body(script),
            ),
        ]),
    );
    lab.start_dns(zone_for(&[("cfg.example.test", 10, 1, port)]));
    let lease = lab.file(
        "dhclient.leases",
        b"lease {\n  interface \"wlan0\";\n  option domain-name \"example.test\";\n}\n",
    );
    let dns = lab.dns.as_ref().unwrap().addr;

    println!("demo: DNS on {dns}: SRV {SRV} -> cfg.example.test:{port}, TXT path=/bundle");
    println!(
        "demo: HTTPS on 127.0.0.1:{port} (test CA, Basic auth for {LOGIN}) serving the bundle and package"
    );
    println!(
        "demo: DHCP lease {} hands out the domain example.test",
        lease.display()
    );
    println!(
        "demo: running {} into {}\n",
        bin.display(),
        lab.root().display()
    );

    let status = Command::new(&bin)
        .env("PRECONF_PASSWORD", PASSWORD)
        .arg("--lease-file")
        .arg(&lease)
        .args(["--yes", "--user", LOGIN])
        .args(lab.base_args(&lab.path("ca.pem")))
        .status()
        .expect("run preconf");
    if !status.success() {
        eprintln!("demo: preconf failed ({status})");
        std::process::exit(status.code().unwrap_or(70));
    }

    println!("\ndemo: preconf status --root {}", lab.root().display());
    Command::new(&bin)
        .arg("status")
        .arg("--root")
        .arg(lab.root())
        .status()
        .expect("run preconf status");

    if keep {
        let dir = lab.dir.keep();
        println!("\ndemo: kept {}", dir.display());
    } else {
        println!("\ndemo: done; the temporary root is removed (pass --keep to look around)");
    }
}

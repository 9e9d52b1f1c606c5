//! Where settings come from: files below the root, factory defaults built
//! into the binary, and the command line above both.

use std::path::Path;
use std::process::Command;

use preconf_testlab::*;

fn lab_with_corp_service() -> Lab {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", s.routes);
    let name = "_corp._tcp.example.test";
    lab.start_dns(
        Zone::new()
            .srv(name, 0, 0, port, "cfg1.example.test")
            .txt(name, "path=/bundle")
            .a("cfg1.example.test", std::net::Ipv4Addr::LOCALHOST),
    );
    lab
}

#[test]
fn settings_files_below_the_root() {
    let lab = lab_with_corp_service();
    let serial = lab.file("serial", b"SER-0042\n");
    lab.file(
        "root/etc/preconf/10-corp.conf",
        format!(
            "# vendor settings\nservice=_corp._tcp\ndomain=example.test\ndevice-id-file={}\n",
            serial.display()
        )
        .as_bytes(),
    );
    // A later file overrides an earlier one.
    lab.file("root/etc/preconf/20-site.conf", b"service=_wrong._tcp\n");
    let mut c = lab.preconf();
    c.arg("--no-exec");
    Run::of(c).fails(69, "SRV _wrong._tcp.example.test");
    // The command line overrides both.
    let mut c = lab.preconf();
    c.args(["--no-exec", "--service", "_corp._tcp"]);
    Run::of(c).ok().says("domain: example.test");
    let ids: Vec<_> = lab.servers[0]
        .requests()
        .iter()
        .map(|r| r.headers.get("x-preconf-device-id").cloned())
        .collect();
    assert!(
        ids.iter().all(|i| i.as_deref() == Some("SER-0042")),
        "{ids:?}"
    );
}

#[test]
fn broken_settings_file_is_named() {
    let lab = Lab::new();
    let f = lab.file(
        "root/etc/preconf/corp.conf",
        b"service=_corp._tcp\nservce=oops\n",
    );
    let mut c = lab.preconf();
    c.arg("status");
    Run::of(c).fails(
        78,
        &format!("{}: line 2: unknown key 'servce'", f.display()),
    );
}

/// Builds preconf with factory defaults, in a target dir of its own so the
/// main build is left alone. Returns the binary or the build's stderr.
fn factory_build(properties: &Path, ca: &Path) -> Result<std::path::PathBuf, String> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/factory-test");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", "preconf", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PRECONF_FACTORY_PROPERTIES", properties)
        .env("PRECONF_FACTORY_CA", ca)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(target.join("debug/preconf"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn factory_defaults_built_in() {
    let lab = lab_with_corp_service();
    let props = lab.file(
        "factory.properties",
        b"# ACME factory image\nservice=_corp._tcp\ndomain=example.test\ndevice-id=FACTORY-1\ncorp.line=acme\n",
    );
    let ca = lab.path("ca.pem");

    // Build failures name the problem.
    let missing = factory_build(&props, &lab.path("nope.pem")).unwrap_err();
    assert!(missing.contains("nope.pem: cannot read it"), "{missing}");
    let not_pem = lab.file(
        "not.pem",
        b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    );
    let bad = factory_build(&props, &not_pem).unwrap_err();
    assert!(bad.contains("not.pem is not a valid PEM file"), "{bad}");
    let typo = lab.file("typo.properties", b"srevice=_corp._tcp\n");
    let bad = factory_build(&typo, &ca).unwrap_err();
    assert!(bad.contains("line 1: unknown key 'srevice'"), "{bad}");

    let bin = factory_build(&props, &ca).expect("factory build");
    let version = Run::of({
        let mut c = Command::new(&bin);
        c.arg("--version");
        c
    });
    version.ok();
    assert!(
        version
            .stdout
            .contains("factory defaults: service=_corp._tcp, domain=example.test, provisioning.spid=FACTORY-1, corp.line=acme"),
        "{}",
        version.stdout
    );
    assert!(
        version.stdout.contains("embedded CA certificates: 1"),
        "{}",
        version.stdout
    );

    // No --ca, no --domain, no --service: all from the factory.
    let mut c = Command::new(&bin);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("PRECONF_PASSWORD", PASSWORD)
        .args([
            "--no-exec",
            "--user",
            LOGIN,
            "--dns",
            &lab.dns.as_ref().unwrap().addr.to_string(),
            "--root",
        ])
        .arg(lab.root());
    Run::of(c)
        .ok()
        .says("trusting 1 CA certificate(s) (1 built in)")
        .says("SRV _corp._tcp.example.test");

    // The factory ranks below everything, settings files first.
    let props = |lab: &Lab| {
        let mut c = Command::new(&bin);
        c.env_clear().args(["props", "--root"]).arg(lab.root());
        let run = Run::of(c);
        run.ok();
        run.stdout
    };
    let line = |out: &str, key: &str| {
        out.lines().find(|l| l.starts_with(key)).map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let fresh = Lab::new();
    let out = props(&fresh);
    assert_eq!(
        line(&out, "provisioning.spid").as_deref(),
        Some("FACTORY-1 factory"),
        "{out}"
    );
    assert_eq!(
        line(&out, "corp.line").as_deref(),
        Some("acme factory"),
        "{out}"
    );
    fresh.file("root/etc/preconf/site.conf", b"provisioning.spid=SITE-1\n");
    let out = props(&fresh);
    assert!(
        line(&out, "provisioning.spid")
            .unwrap()
            .starts_with("SITE-1 settings"),
        "{out}"
    );
}

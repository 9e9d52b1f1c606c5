//! The provisioning dictionary: its providers and their ranks, props.txt,
//! the storage and `preconf props`, and provisioning from a
//! `provisioning.reference`, a chain of them included.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use preconf_testlab::*;

const SPID: &str = "provisioning.spid";
const REFERENCE: &str = "provisioning.reference";

/// A lab whose DNS server answers nothing and counts what it is asked:
/// a run from a reference must not ask it anything.
pub(crate) fn quiet_lab() -> Lab {
    let mut lab = Lab::new();
    lab.start_dns(Zone::new());
    lab
}

/// `preconf ARGS` in the lab, with its root, CA and DNS.
fn preconf(lab: &Lab, args: &[&str]) -> Command {
    let mut c = lab.preconf();
    c.args(args);
    c
}

/// `preconf props`, as text.
fn props(lab: &Lab, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = preconf(lab, &["props"]);
    c.args(args).envs(env.iter().copied());
    Run::of(c)
}

/// The value and the provider `preconf props` shows for `key`.
pub(crate) fn shown(
    lab: &Lab,
    env: &[(&str, &str)],
    args: &[&str],
    key: &str,
) -> Option<(String, String)> {
    let run = props(lab, env, args);
    run.ok();
    let line = run
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    Some((words[1].to_string(), words[2].to_string()))
}

fn props_txt(lab: &Lab, dir: &str, text: &str) -> PathBuf {
    lab.file(&format!("root/{dir}/props.txt"), text.as_bytes())
}

fn stored_set(lab: &Lab, assignment: &str) {
    let mut c = preconf(lab, &["props", "set", assignment]);
    c.stdin(Stdio::null());
    Run::of(c).ok();
}

/// Each provider gives the key the value of its own name; the higher one
/// wins, for every pair.
#[test]
fn every_provider_outranks_the_ones_below() {
    let order = [
        "command-line",
        "environment",
        "stored",
        "media",
        "file",
        "settings",
    ];
    for (i, high) in order.iter().enumerate() {
        for low in &order[i + 1..] {
            let lab = Lab::new();
            let mut env = Vec::new();
            let mut args = vec!["--set", "prm.media.dirs=/media/*"];
            for p in [high, low] {
                match *p {
                    "command-line" => args.extend(["--set", "provisioning.spid=command-line"]),
                    "environment" => env.push(("PROVISIONING_SPID", "environment")),
                    "stored" => stored_set(&lab, "provisioning.spid=stored"),
                    "media" => drop(props_txt(&lab, "media/usb0", "provisioning.spid=media\n")),
                    "file" => drop(props_txt(
                        &lab,
                        "etc/preconf",
                        "[TEXT]\nprovisioning.spid=file\n",
                    )),
                    "settings" => drop(lab.file(
                        "root/etc/preconf/site.conf",
                        b"provisioning.spid=settings\n",
                    )),
                    _ => unreachable!(),
                }
            }
            let (value, provider) = shown(&lab, &env, &args, SPID).unwrap();
            assert_eq!(
                (value.as_str(), provider.as_str()),
                (*high, *high),
                "{high} over {low}"
            );
        }
    }
}

#[test]
fn a_provider_switched_off_is_not_read() {
    let lab = Lab::new();
    props_txt(
        &lab,
        "etc/preconf",
        "provisioning.spid=file\nprm.name=from-file\n",
    );
    let env = [("PROVISIONING_SPID", "environment")];
    assert_eq!(shown(&lab, &env, &[], SPID).unwrap().1, "environment");
    let off = ["--set", "prm.env.provider.allowed=false"];
    assert_eq!(shown(&lab, &env, &off, SPID).unwrap().1, "file");
    lab.file(
        "root/etc/preconf/off.conf",
        b"prm.file.provider.allowed=false\n",
    );
    assert_eq!(shown(&lab, &[], &[], SPID), None);
    assert_eq!(shown(&lab, &[], &[], "prm.name"), None);
    // Which providers are read is not the environment's, nor the
    // storage's, to say: such a variable is not read.
    let env = [("PRM_FILE_PROVIDER_ALLOWED", "true")];
    assert_eq!(shown(&lab, &env, &[], SPID), None);
    let mut c = preconf(&lab, &["props", "set", "prm.env.provider.allowed=false"]);
    c.stdin(Stdio::null());
    Run::of(c).fails(
        64,
        "prm.env.provider.allowed decides where the dictionary is read from",
    );
}

#[test]
fn props_txt_text_binary_comments_and_load_once() {
    let mut lab = quiet_lab();
    let port = reference_server(&mut lab, &[]);
    lab.file("root/etc/preconf/agent.cfg", b"\x00agent\xffconfig");
    props_txt(
        &lab,
        "etc/preconf",
        &format!(
            "# the factory's props.txt\n[TEXT]\nprovisioning.spid = DEV-7\n{REFERENCE}=https://127.0.0.1:{port}/bundle\n# BINARY values name files\n[BINARY]\nprovisioning.agent.config=agent.cfg\n"
        ),
    );
    let run = props(&lab, &[], &[]);
    run.ok();
    assert!(
        run.stdout.contains("provisioning.agent.config"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("********"),
        "a secret is shown: {}",
        run.stdout
    );
    let without_name = run.stdout.replace("provisioning.agent.config", "");
    assert!(
        !without_name.contains("agent"),
        "the secret is shown: {}",
        run.stdout
    );

    Run::of(preconf(&lab, &["--no-exec"]))
        .ok()
        .says("props.txt loaded; it will not be read again (prm.file.load.once)")
        .says("hop 1");
    let agent = lab.state().join("agent.config");
    assert_eq!(std::fs::read(&agent).unwrap(), b"\x00agent\xffconfig");
    assert_eq!(mode(&agent), 0o600);
    assert_eq!(mode(&lab.state().join("storage")), 0o600);

    // Loaded once: a later edit of the file is not read, the kept copy is.
    props_txt(&lab, "etc/preconf", "provisioning.spid=EDITED\n");
    let (value, provider) = shown(&lab, &[], &[], SPID).unwrap();
    assert_eq!((value.as_str(), provider.as_str()), ("DEV-7", "file"));
    let again = ["--set", "prm.file.load.once=false"];
    assert_eq!(shown(&lab, &[], &again, SPID).unwrap().0, "EDITED");

    // A bad line is named, and nothing of the file is used.
    props_txt(
        &lab,
        "etc/preconf",
        "[TEXT]\nprovisioning.spid=x\nprovisioning.refrence=https://x/\n",
    );
    props(&lab, &[], &again).fails(78, "props.txt: line 3: unknown key 'provisioning.refrence'");
    props_txt(
        &lab,
        "etc/preconf",
        "[BINARY]\nprovisioning.rootx509=../../../etc/shadow\n",
    );
    props(&lab, &[], &again).fails(78, "line 2: provisioning.rootx509 names '../../../etc/shadow', which is not a path inside the props.txt directory");
    props_txt(&lab, "etc/preconf", "[JSON]\n");
    props(&lab, &[], &again).fails(78, "line 1: unknown section [JSON]");
}

#[test]
fn props_txt_reads_no_file_outside_its_directory() {
    let lab = Lab::new();
    let dir = lab.path("root/etc/preconf");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
    props_txt(&lab, "etc/preconf", "[BINARY]\ncorp.x=passwd\n");
    props(&lab, &[], &[]).fails(78, "line 2: corp.x names");
    assert!(
        props(&lab, &[], &[])
            .stderr
            .contains("which is a symbolic link")
    );
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    props_txt(&lab, "etc/preconf", "[BINARY]\ncorp.x=fifo\n");
    props(&lab, &[], &[]).fails(78, "which is not a regular file");
    // Thousands of lines naming one big file: bounded as a whole.
    lab.file("root/etc/preconf/big", &vec![b'x'; 200 * 1024]);
    let many: String = (0..6).map(|i| format!("corp.b{i}=big\n")).collect();
    props_txt(&lab, "etc/preconf", &format!("[BINARY]\n{many}"));
    props(&lab, &[], &[]).fails(78, "line 7: corp.b5 names");
}

#[test]
fn removable_media_may_not_change_the_devices_own_settings() {
    let lab = Lab::new();
    let media = ["--set", "prm.media.dirs=/media/*"];
    props_txt(&lab, "media/usb0", "prm.insecure.http=true\n");
    props(&lab, &[], &media).fails(78, "prm.insecure.http 'true' from");
    props_txt(&lab, "media/usb0", "ca=/media/usb0/evil.pem\n");
    props(&lab, &[], &media).fails(
        78,
        "is the device's own setting, which neither a server nor removable media may change",
    );
}

#[test]
fn a_secret_never_appears_in_a_message() {
    let lab = Lab::new();
    let run = Run::of(preconf(
        &lab,
        &["--set", "provisioning.agent.config=TOPSECRET"],
    ));
    run.fails(
        64,
        "--set provisioning.agent.config: provisioning.agent.config is a secret",
    );
    assert!(!run.stderr.contains("TOPSECRET"), "{}", run.stderr);
    let run = Run::of(preconf(&lab, &["--set", "corp.wifi.password"]));
    run.fails(64, "--set corp.wifi.password: write KEY=VALUE");
}

#[test]
fn the_storage_refuses_to_grow_past_what_it_reads() {
    let lab = Lab::new();
    let blob = lab.file("blob", &vec![b'z'; 256 * 1024]);
    let mut failed = None;
    for i in 0..20 {
        let c = preconf(
            &lab,
            &["props", "set", &format!("corp.b{i}@{}", blob.display())],
        );
        let run = Run::of(c);
        if run.code != Some(0) {
            failed = Some((i, run));
            break;
        }
    }
    let (i, run) = failed.expect("the storage grew without bound");
    assert!(i > 10, "refused too early, at {i}");
    run.fails(73, "the dictionary would take more than 4 MiB");
    // What was stored before is all there.
    assert_eq!(shown(&lab, &[], &[], "corp.b0").unwrap().0, "(262144");
}

#[test]
fn the_environment_pushes_keys_by_prefix() {
    let lab = Lab::new();
    let env = [
        ("MBS_STORAGE_ROOT", "/data"),
        ("MBS_OTHER", "x"),
        ("HOME", "/root"),
        ("PRECONF_PASSWORD", "never"),
    ];
    let mbs = ["--set", "prm.env.provider.push.starting.with=mbs.storage"];
    assert_eq!(
        shown(&lab, &env, &mbs, "mbs.storage.root").unwrap(),
        ("/data".into(), "environment".into())
    );
    assert_eq!(shown(&lab, &env, &mbs, "mbs.other"), None);
    assert_eq!(
        shown(&lab, &env, &[], "mbs.storage.root"),
        None,
        "no push without the key"
    );
    let all = ["--set", "prm.env.provider.push.starting.with=*"];
    let run = props(&lab, &env, &all);
    run.ok();
    assert!(run.stdout.contains("mbs.other"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("never") && !run.stdout.contains("home"),
        "{}",
        run.stdout
    );
}

#[test]
fn removable_media_is_read_while_present() {
    let lab = Lab::new();
    let media = ["--set", "prm.media.dirs=/media/*"];
    let card = props_txt(&lab, "media/sdcard", "[TEXT]\nprovisioning.spid=CARD-1\n");
    assert_eq!(
        shown(&lab, &[], &[], SPID),
        None,
        "media are off by default"
    );
    let (value, provider) = shown(&lab, &[], &media, SPID).unwrap();
    assert_eq!((value.as_str(), provider.as_str()), ("CARD-1", "media"));
    std::fs::remove_file(card).unwrap();
    assert_eq!(shown(&lab, &[], &media, SPID), None);
}

#[test]
fn props_edits_the_storage_and_masks_secrets() {
    let lab = Lab::new();
    stored_set(&lab, "provisioning.spid=DEV-1");
    let secret = lab.file("secret", b"s3cr3t");
    let mut c = preconf(&lab, &["props", "set"]);
    c.arg(format!("provisioning.rsh.secret@{}", secret.display()));
    let set = Run::of(c);
    assert!(!set.ok().stderr.contains("s3cr3t") && !set.stdout.contains("s3cr3t"));
    // Only the storage (0600, base64) holds it.
    let stored = lab.state().join("storage");
    assert_eq!(files_holding(&lab.root(), b"s3cr3t"), Vec::<PathBuf>::new());
    assert_eq!(
        files_holding(&lab.root(), b"czNjcjN0"),
        std::slice::from_ref(&stored)
    );
    assert_eq!(mode(&stored), 0o600);
    let get = |key: &str| {
        let mut c = preconf(&lab, &["props", "get", key]);
        c.stdin(Stdio::null());
        Run::of(c)
    };
    assert_eq!(get(SPID).ok().stdout, "DEV-1\n");
    assert_eq!(get("provisioning.rsh.secret").ok().stdout, "********\n");
    assert_eq!(get("provisioning.update.count").ok().stdout, "2\n");
    get("corp.site").fails(1, "corp.site has no value in any provider");
    let json = props(&lab, &[], &["--json"]);
    json.ok();
    assert!(
        json.stdout.contains(
            r#"{"key":"provisioning.spid","values":[{"text":"DEV-1"}],"provider":"stored""#
        ),
        "{}",
        json.stdout
    );
    assert!(
        !json.stdout.contains("s3cr3t") && json.stdout.contains(r#"{"masked":true}"#),
        "{}",
        json.stdout
    );
    assert!(!read_bytes(&lab.state().join("storage")).is_empty());

    // A secret never goes on the command line; a bad value is refused
    // before it is stored.
    let c = preconf(&lab, &["props", "set", "provisioning.rsh.secret=x"]);
    Run::of(c).fails(64, "write provisioning.rsh.secret@FILE, or provisioning.rsh.secret@- to read it from standard input");
    let c = preconf(&lab, &["props", "set", "provisioning.reference=ftp://x/"]);
    Run::of(c).fails(78, "provisioning.reference 'ftp://x/' from");
    let c = preconf(&lab, &["props", "set", "provisioning.update.count=0"]);
    Run::of(c).fails(64, "is kept by preconf");
    assert_eq!(get(SPID).ok().stdout, "DEV-1\n");

    let c = preconf(&lab, &["props", "unset", SPID]);
    Run::of(c).ok().says("removed provisioning.spid");
    get(SPID).fails(1, "no value");
    assert_eq!(get("provisioning.update.count").ok().stdout, "3\n");
}

/// The storage is replaced whole: `kill -9` in the middle of `props set`
/// leaves the old dictionary or the new one, never a mix or a parse error.
#[test]
fn the_storage_survives_kill_9_during_props_set() {
    let lab = Lab::new();
    let blobs: Vec<PathBuf> = (0..2u8)
        .map(|i| lab.file(&format!("blob{i}"), &vec![b'a' + i; 200 * 1024]))
        .collect();
    stored_set(&lab, &format!("corp.blob@{}", blobs[0].display()));
    let mut seed = [0u8; 64];
    getrandom::fill(&mut seed).unwrap();
    for (i, wait) in seed.iter().enumerate() {
        let blob = &blobs[(i + 1) % 2];
        let mut c = preconf(
            &lab,
            &["props", "set", &format!("corp.blob@{}", blob.display())],
        );
        let mut child = c
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(u64::from(*wait) * 40));
        // By pid, as every process a test starts.
        let _ = child.kill();
        child.wait().unwrap();
        let c = preconf(&lab, &["props", "get", "corp.blob"]);
        let run = Run::of(c);
        run.ok();
        assert!(!run.stderr.contains("damaged"), "{}", run.stderr);
        let got = run.stdout.as_bytes();
        assert!(
            blobs.iter().any(|b| std::fs::read(b).unwrap() == got),
            "iteration {i}: neither the old value nor the new one ({} bytes)",
            got.len()
        );
    }
}

#[test]
fn a_damaged_storage_is_set_aside_and_reported() {
    let lab = Lab::new();
    stored_set(&lab, "provisioning.spid=DEV-1");
    let storage = lab.state().join("storage");
    let mut bytes = read_bytes(&storage);
    let n = bytes.len();
    bytes.truncate(n - 5);
    std::fs::write(&storage, &bytes).unwrap();
    props(&lab, &[], &[])
        .ok()
        .says("the storage")
        .says("is damaged (it is cut short or padded")
        .says("storage.damaged");
    assert!(lab.state().join("storage.damaged").is_file());
    assert_eq!(shown(&lab, &[], &[], SPID), None);
}

/// A server for references: HTTPS at 127.0.0.1 (no name to look up), no
/// login asked, bundles at the given paths, the standard package.
pub(crate) fn reference_server(lab: &mut Lab, bundles: &[(&str, String)]) -> u16 {
    let s = standard_routes(lab);
    let mut routes = s.routes;
    for (path, body) in bundles {
        routes.insert(path.to_string(), Reply::Body(body.clone().into_bytes()));
    }
    lab.serve_with("127.0.0.1", routes, false, None)
}

/// A bundle with no configurator that hands on `next` (and other properties).
fn pointer(properties: &[(&str, &str)]) -> String {
    let props: Vec<String> = properties
        .iter()
        .map(|(k, v)| format!("\"{k}\": \"{v}\""))
        .collect();
    format!(
        r#"{{"format": 1, "properties": {{ {} }}}}"#,
        props.join(", ")
    )
}

#[test]
fn a_reference_from_any_provider_provisions_without_dns() {
    for provider in [
        "command-line",
        "environment",
        "stored",
        "media",
        "file",
        "settings",
    ] {
        let mut lab = quiet_lab();
        let port = reference_server(&mut lab, &[]);
        let url = format!("https://127.0.0.1:{port}/bundle");
        let mut c = preconf(&lab, &["--no-exec", "--set", "prm.media.dirs=/media/*"]);
        let line = format!("{REFERENCE}={url}\n");
        match provider {
            "command-line" => drop(c.args(["--set", line.trim_end()])),
            "environment" => drop(c.env("PROVISIONING_REFERENCE", &url)),
            "stored" => stored_set(&lab, line.trim_end()),
            "media" => drop(props_txt(&lab, "media/usb0", &line)),
            "file" => drop(props_txt(&lab, "etc/preconf", &line)),
            "settings" => drop(lab.file("root/etc/preconf/corp.conf", line.as_bytes())),
            _ => unreachable!(),
        }
        let run = Run::of(c);
        run.ok().says(&format!("reference: hop 1: {url}"));
        assert!(
            run.stdout.contains("corp-configurator"),
            "{provider}: {}",
            run.stdout
        );
        let dns = lab.dns.as_ref().unwrap();
        assert_eq!(
            dns.queries.load(Ordering::SeqCst) + dns.tcp_queries.load(Ordering::SeqCst),
            0,
            "{provider}: DNS was asked"
        );
        let status = Run::of(preconf(&lab, &["status"]));
        assert!(
            status.ok().stdout.contains("via          reference"),
            "{}",
            status.stdout
        );
        assert!(
            status.stdout.contains(&format!("hop 1        {url}")),
            "{}",
            status.stdout
        );
    }
}

#[test]
fn the_spid_goes_as_service_platform_id_and_the_bundle_hands_over_properties() {
    let mut lab = quiet_lab();
    let mut bundle = standard_routes(&lab).bundle;
    bundle = bundle.replacen(
        "\"format\": 1,",
        r#""format": 1, "properties": {"prm.prv.log": "https://log.example.test/prv", "corp.cert@base64": "AAEC"},"#,
        1,
    );
    let port = reference_server(&mut lab, &[("/prvsetup", bundle)]);
    let url = format!("https://127.0.0.1:{port}/prvsetup?site=lab");
    Run::of(preconf(
        &lab,
        &[
            "--no-exec",
            "--device-id",
            "DEV 7",
            "--set",
            &format!("{REFERENCE}={url}"),
        ],
    ))
    .ok()
    .says("propert(ies) stored: prm.prv.log, corp.cert");
    let paths: Vec<String> = lab.servers[0]
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths[0], "/prvsetup?site=lab&service_platform_id=DEV+7",
        "{paths:?}"
    );
    assert_eq!(
        shown(&lab, &[], &[], "prm.prv.log").unwrap(),
        ("https://log.example.test/prv".into(), "stored".into())
    );
    assert_eq!(shown(&lab, &[], &[], "corp.cert").unwrap().0, "(3");
    // A server may not change the device's own settings.
    let mut lab = quiet_lab();
    let bad = standard_routes(&lab).bundle.replacen(
        "\"format\": 1,",
        r#""format": 1, "properties": {"prm.insecure.http": "true"},"#,
        1,
    );
    let port = reference_server(&mut lab, &[("/prvsetup", bad)]);
    Run::of(preconf(
        &lab,
        &[
            "--no-exec",
            "--set",
            &format!("{REFERENCE}=https://127.0.0.1:{port}/prvsetup"),
        ],
    ))
    .fails(
        65,
        "sets the property prm.insecure.http, which is the device's own setting",
    );
    assert!(!lab.state().join("receipt.json").exists());
}

#[test]
fn a_file_reference_provisions_from_a_bundle_on_media() {
    let mut lab = quiet_lab();
    let port = reference_server(&mut lab, &[]);
    // The package from the server, the bundle from the card: absolute URL.
    let bundle = standard_routes(&lab).bundle.replace(
        "\"pkgs/corp.sh\"",
        &format!("\"https://127.0.0.1:{port}/pkgs/corp.sh\""),
    );
    let file = lab.file("root/media/usb0/bundle.json", bundle.as_bytes());
    let url = format!("file://{}", file.display());
    Run::of(preconf(
        &lab,
        &["--no-exec", "--set", &format!("{REFERENCE}={url}")],
    ))
    .ok()
    .says("fetch: bundle from");
    assert!(lab.state().join("receipt.json").is_file());
}

/// A plain-http server on 127.0.0.1 serving `routes`, for the one case
/// preconf may be told to use it; returns its port.
fn plain_http_server(routes: HashMap<String, Vec<u8>>) -> u16 {
    plain_http_server_on(TcpListener::bind("127.0.0.1:0").unwrap(), routes)
}

fn plain_http_server_on(listener: TcpListener, routes: HashMap<String, Vec<u8>>) -> u16 {
    let port = listener.local_addr().unwrap().port();
    let routes = Arc::new(Mutex::new(routes));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            let reply = match routes.lock().unwrap().get(&path) {
                Some(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => {
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            };
            let _ = conn.write_all(&reply);
        }
    });
    port
}

#[test]
fn plain_http_only_with_the_insecure_key_and_never_with_a_password() {
    let lab = quiet_lab();
    let s = standard_routes(&lab);
    let port = plain_http_server(HashMap::from([
        ("/prvsetup".to_string(), s.bundle.into_bytes()),
        ("/pkgs/corp.sh".to_string(), s.script),
    ]));
    let reference = format!("{REFERENCE}=http://127.0.0.1:{port}/prvsetup");
    Run::of(preconf(&lab, &["--no-exec", "--set", &reference]))
        .fails(64, "is plain http, which anyone on the way can read and change; use https, or set prm.insecure.http=true");
    let run = Run::of(preconf(
        &lab,
        &[
            "--no-exec",
            "--set",
            &reference,
            "--set",
            "prm.insecure.http=true",
        ],
    ));
    run.ok();
    let warnings = run
        .stderr
        .matches("over plain http (prm.insecure.http=true)")
        .count();
    assert_eq!(warnings, 2, "one per request: {}", run.stderr);

    let login = format!("{REFERENCE}=http://127.0.0.1:{port}/private");
    Run::of(preconf(
        &lab,
        &[
            "--no-exec",
            "--force",
            "--set",
            &login,
            "--set",
            "prm.insecure.http=true",
        ],
    ))
    .fails(77, "preconf never sends a password over plain http");
}

/// An http URL without a port goes to port 80, not https's 443.
#[test]
fn a_plain_http_reference_without_a_port_goes_to_port_80() {
    need_root("it serves plain http on port 80 of a loopback address of its own");
    let lab = quiet_lab();
    let s = standard_routes(&lab);
    let ip = preconf_testlab::peers::own_loopback_address().ip();
    let listener = TcpListener::bind((ip, 80)).unwrap();
    plain_http_server_on(
        listener,
        HashMap::from([
            ("/prvsetup".to_string(), s.bundle.into_bytes()),
            ("/pkgs/corp.sh".to_string(), s.script),
        ]),
    );
    let reference = format!("{REFERENCE}=http://{ip}/prvsetup");
    let insecure = "prm.insecure.http=true";
    Run::of(preconf(
        &lab,
        &["--no-exec", "--set", &reference, "--set", insecure],
    ))
    .ok()
    .says(&format!("requesting http://{ip}/prvsetup"));
}

#[test]
fn references_chain_stop_at_a_loop_and_at_the_hop_limit() {
    let mut lab = quiet_lab();
    let file_url = |lab: &Lab, name: &str| format!("file://{}", lab.path(name).display());
    // Three hops: a file that points to a server, whose bundle points to a
    // file with the configurator in it.
    let c = file_url(&lab, "c.json");
    let port = reference_server(
        &mut lab,
        &[("/b", pointer(&[(REFERENCE, &c), (SPID, "FROM-B")]))],
    );
    let b = format!("https://127.0.0.1:{port}/b");
    lab.file(
        "a.json",
        pointer(&[(REFERENCE, &b), ("corp.from.file", "x")]).as_bytes(),
    );
    let last = standard_routes(&lab).bundle.replace(
        "\"pkgs/corp.sh\"",
        &format!("\"https://127.0.0.1:{port}/pkgs/corp.sh\""),
    );
    lab.file("c.json", last.as_bytes());
    let a = file_url(&lab, "a.json");
    let run = Run::of(preconf(
        &lab,
        &["--no-exec", "--set", &format!("{REFERENCE}={a}")],
    ));
    run.ok()
        .says(&format!(
            "reference: hop 1: {a} (provisioning.reference from the command line)"
        ))
        .says(&format!("reference: hop 2: {b}"))
        .says(&format!("reference: hop 3: {c}"));
    let status = Run::of(preconf(&lab, &["status"]));
    let out = &status.ok().stdout;
    assert!(out.contains("reference    from the command line"), "{out}");
    assert!(
        out.contains(&format!("hop 2        {b}")) && out.contains(&format!("hop 3        {c}")),
        "{out}"
    );
    // What the chain handed over is stored; the second hop already went
    // with no spid, and the server's spid is the device's from now on.
    assert_eq!(
        shown(&lab, &[], &[], SPID).unwrap(),
        ("FROM-B".into(), "stored".into())
    );
    // Only a server verified by TLS hands over what is kept, and a handed-on
    // reference is never kept: the next run starts where this one began.
    assert_eq!(shown(&lab, &[], &[], "corp.from.file"), None);
    assert_eq!(shown(&lab, &[], &[], REFERENCE), None);

    // A loop.
    let lab = quiet_lab();
    let (l1, l2) = (file_url(&lab, "l1.json"), file_url(&lab, "l2.json"));
    lab.file("l1.json", pointer(&[(REFERENCE, &l2)]).as_bytes());
    lab.file("l2.json", pointer(&[(REFERENCE, &l1)]).as_bytes());
    Run::of(preconf(
        &lab,
        &["--no-exec", "--set", &format!("{REFERENCE}={l1}")],
    ))
    .fails(
        65,
        &format!("the references loop back to {l1} ({l1} -> {l2} -> {l1})"),
    );

    // The hop limit, 4 unless set.
    let lab = quiet_lab();
    for i in 1..=5 {
        let next = file_url(&lab, &format!("h{}.json", i + 1));
        lab.file(
            &format!("h{i}.json"),
            pointer(&[(REFERENCE, &next)]).as_bytes(),
        );
    }
    let h1 = format!("{REFERENCE}={}", file_url(&lab, "h1.json"));
    Run::of(preconf(&lab, &["--no-exec", "--set", &h1])).fails(
        65,
        "more than 4 references to follow (prm.reference.max.hops)",
    );
    Run::of(preconf(
        &lab,
        &[
            "--no-exec",
            "--set",
            &h1,
            "--set",
            "prm.reference.max.hops=2",
        ],
    ))
    .fails(65, "more than 2 references to follow");
    assert!(!lab.state().join("receipt.json").exists());
    // A bundle that names nothing to run and nowhere to go.
    lab.file("h1.json", pointer(&[("prm.name", "dev")]).as_bytes());
    Run::of(preconf(&lab, &["--no-exec", "--set", &h1])).fails(
        65,
        "names no configurator and no further provisioning.reference",
    );
}

#[test]
fn a_chain_logs_in_only_to_its_first_server_and_never_goes_plain() {
    let mut lab = quiet_lab();
    let s = standard_routes(&lab);
    // A server further down the chain that asks for the login.
    let private = lab.serve_with("127.0.0.1", s.routes, true, None);
    let next = format!("https://127.0.0.1:{private}/bundle");
    let first = reference_server(&mut lab, &[("/first", pointer(&[(REFERENCE, &next)]))]);
    let run = Run::of(preconf(
        &lab,
        &[
            "--no-exec",
            "--set",
            &format!("{REFERENCE}=https://127.0.0.1:{first}/first"),
        ],
    ));
    run.fails(77, "asks for a login, and preconf logs in only to the server of the first provisioning.reference");
    let sent: Vec<_> = lab.servers[0]
        .requests()
        .into_iter()
        .filter(|r| r.headers.contains_key("authorization"))
        .collect();
    assert!(sent.is_empty(), "the login went to a server down the chain");

    // A bundle cannot switch the device to plain http.
    let plain = reference_server(
        &mut lab,
        &[("/plain", pointer(&[(REFERENCE, "http://127.0.0.1:9/x")]))],
    );
    Run::of(preconf(
        &lab,
        &[
            "--no-exec",
            "--set",
            &format!("{REFERENCE}=https://127.0.0.1:{plain}/plain"),
        ],
    ))
    .fails(
        65,
        "is a plain-http reference, and prm.insecure.http is not set",
    );
}

#[test]
fn the_dictionary_reaches_the_configurator() {
    let mut lab = quiet_lab();
    let port = reference_server(&mut lab, &[]);
    // Trust from the dictionary alone: no --ca.
    let ca = lab.file("anchors/server-ca.pem", lab.server_ca.pem().as_bytes());
    let cfg = lab.file("agent.cfg", b"agent=1\n");
    let mut c = command();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env(
            "PROVISIONING_REFERENCE",
            format!("https://127.0.0.1:{port}/bundle"),
        )
        .stdin(Stdio::null())
        .args([
            "--root",
            lab.root().to_str().unwrap(),
            "--dns",
            &lab.dns.as_ref().unwrap().addr.to_string(),
        ])
        .args(["--io-timeout", "2", "--timeout", "60"])
        .arg("--set")
        .arg(format!("provisioning.rootx509@{}", ca.display()))
        .arg("--set")
        .arg(format!("provisioning.agent.config@{}", cfg.display()))
        .args([
            "--set",
            "provisioning.start.bundle=/usr/bin/corp-configurator --from-dictionary",
        ]);
    let run = Run::of(c);
    run.ok()
        .says("1 from provisioning.rootx509")
        .says("provisioning.start.bundle from the command line");
    let handoff = read(&lab.root().join("handoff.txt"));
    assert!(handoff.contains("args=--from-dictionary"), "{handoff}");
    let config = lab.state().join("agent.config");
    assert!(
        handoff.contains(&format!("PRECONF_AGENT_CONFIG={}", config.display())),
        "{handoff}"
    );
    assert_eq!(read(&config), "agent=1\n");
    // The secret is in agent.config (0600) and the storage's copy of
    // nothing else: not in any message, the environment or another file.
    assert_eq!(mode(&config), 0o600);
    assert!(!run.stderr.contains("agent=1") && !run.stdout.contains("agent=1"));
    assert!(!handoff.contains("agent=1"), "{handoff}");
    assert_eq!(
        files_holding(&lab.root(), b"agent=1"),
        std::slice::from_ref(&config)
    );

    // Provisioned: not again, unless prm.reprovision.onstart says so.
    let again = |more: &[&str]| {
        let mut c = preconf(
            &lab,
            &[
                "--no-exec",
                "--set",
                &format!("{REFERENCE}=https://127.0.0.1:{port}/bundle"),
            ],
        );
        c.args(more);
        Run::of(c)
    };
    again(&[]).ok().says("nothing to do");
    again(&["--set", "prm.reprovision.onstart=true"])
        .ok()
        .says("reference: hop 1");
}

pub(crate) fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn read_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn a_dictionary_that_no_longer_holds_can_still_be_shown_and_mended() {
    let lab = quiet_lab();
    // Stored while the command line allowed plain http; not allowed since.
    let mut c = preconf(
        &lab,
        &[
            "--set",
            "prm.insecure.http=true",
            "props",
            "set",
            "provisioning.reference=http://10.0.0.1/prvsetup",
        ],
    );
    c.stdin(Stdio::null());
    Run::of(c).ok();
    Run::of(preconf(&lab, &["--no-exec"])).fails(78, "plain http");
    let shown = props(&lab, &[], &[]);
    shown
        .ok()
        .says("preconf: warning: settings: provisioning.reference")
        .says("preconf props set or unset can mend it");
    assert!(
        shown.stdout.contains("http://10.0.0.1/prvsetup"),
        "{}",
        shown.stdout
    );
    props(&lab, &[], &["unset", REFERENCE]).ok();
    let after = props(&lab, &[], &[]);
    after.ok();
    assert!(!after.stderr.contains("warning"), "{}", after.stderr);
}

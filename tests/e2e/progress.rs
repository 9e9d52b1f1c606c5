//! The remote provisioning log (`prm.prv.log`, else the bundle's
//! `report_url`): the events a log server receives, in order and without
//! secrets; a dead or silent log server that neither stops nor fails the
//! run; the kept events, sent first by the next run.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use preconf_testlab::*;

use crate::dictionary::{quiet_lab, reference_server};

const SPID: &str = "D-1";
/// Generous: only that a run with a dead log server ends at all.
const BOUND: Duration = Duration::from_secs(60);

/// The standard world by DNS, and a log server at https://127.0.0.1:PORT/log
/// answering `log`; the log server's index in `lab.servers`.
fn lab_with_log(log: Reply, routes: Option<HashMap<String, Reply>>) -> (Lab, usize, String) {
    let mut lab = Lab::new();
    let routes = routes.unwrap_or_else(|| standard_routes(&lab).routes);
    let port = lab.serve("cfg1.example.test", routes);
    lab.start_dns(zone_for(&[("cfg1.example.test", 10, 10, port)]));
    let (index, url) = log_server(&mut lab, log);
    (lab, index, url)
}

fn log_server(lab: &mut Lab, log: Reply) -> (usize, String) {
    let routes = HashMap::from([("/log".to_string(), log)]);
    let port = lab.serve_with("127.0.0.1", routes, false, None);
    (
        lab.servers.len() - 1,
        format!("https://127.0.0.1:{port}/log"),
    )
}

/// A run by DNS, --no-exec, reporting to `url`.
fn run(lab: &Lab, url: &str, extra: &[&str]) -> (Run, Duration) {
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec", "--device-id", SPID]);
    c.args(["--set", &format!("prm.prv.log={url}")]);
    c.args(extra);
    let t0 = Instant::now();
    let run = Run::of(c);
    (run, t0.elapsed())
}

/// The event lines the log server at `index` received, in order, after
/// checking each request is a POST of JSON lines without credentials.
fn received(lab: &Lab, index: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for r in lab.servers[index].requests() {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/log"));
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-ndjson")
        );
        assert!(!r.headers.contains_key("authorization"), "{r:?}");
        let body = String::from_utf8(r.body).unwrap();
        assert!(body.ends_with('\n'), "{body}");
        lines.extend(body.lines().map(str::to_string));
    }
    lines
}

/// A field of one of our event lines: a string's text, or a number or null
/// as written.
fn field(line: &str, name: &str) -> String {
    let start = line
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 3;
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(s) => {
            let mut out = String::new();
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => out.push(chars.next().unwrap()),
                    c => out.push(c),
                }
            }
            out
        }
        None => rest.split([',', '}']).next().unwrap().to_string(),
    }
}

fn events(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| field(l, "event")).collect()
}

fn seqs(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| field(l, "seq").parse().unwrap())
        .collect()
}

const SUCCESS: [&str; 6] = [
    "run-started",
    "discovery-complete",
    "bundle-received",
    "download-complete",
    "install-complete",
    "handoff",
];

/// Never a secret in the log: not the login's password, not the bundle's
/// device password.
#[track_caller]
fn no_secret(text: &str) {
    for secret in [PASSWORD, "device-secret"] {
        assert!(!text.contains(secret), "{secret} in the log: {text}");
    }
}

#[test]
fn a_run_reports_its_progress_in_order() {
    let (lab, log, url) = lab_with_log(Reply::Status(204), None);
    let (run, _) = run(&lab, &url, &[]);
    run.ok();
    let lines = received(&lab, log);
    assert_eq!(events(&lines), SUCCESS, "{lines:#?}");
    assert_eq!(seqs(&lines), [1, 2, 3, 4, 5, 6]);
    for l in &lines {
        assert_eq!(field(l, "spid"), SPID, "{l}");
        let time = field(l, "time");
        assert!(time.len() == 20 && time.ends_with('Z'), "{l}");
    }
    assert!(field(&lines[1], "message").contains("https://cfg1.example.test:"));
    assert!(field(&lines[5], "message").contains("corp-configurator"));
    no_secret(&lines.join("\n"));
    assert!(!lab.state().join("report.pending").exists());
}

#[test]
fn a_failed_run_reports_why_and_its_exit_code() {
    let lab = Lab::new();
    let mut routes = standard_routes(&lab).routes;
    // Not the script the bundle's size and SHA-256 describe.
    routes.insert(
        "/pkgs/corp.sh".into(),
        Reply::Body(b"#!/bin/sh\necho tampered\n".to_vec()),
    );
    let (lab, log, url) = lab_with_log(Reply::Status(204), Some(routes));
    let (run, _) = run(&lab, &url, &[]);
    run.fails(65, "nothing was installed");
    let lines = received(&lab, log);
    let got = events(&lines);
    assert_eq!(
        got,
        [
            "run-started",
            "discovery-complete",
            "bundle-received",
            "verify-failed",
            "run-failed"
        ],
        "{lines:#?}"
    );
    let failed = &lines[4];
    assert_eq!(field(failed, "exit"), "65");
    assert!(
        run.error_line()
            .ends_with(&field(failed, "message").to_string()),
        "{failed}\n{}",
        run.error_line()
    );
    no_secret(&lines.join("\n"));
}

/// A log server that refuses connections, and one that reads the request
/// and never answers: the run succeeds all the same, ends, and keeps the
/// events for the next run.
#[test]
fn a_dead_log_server_neither_stops_nor_fails_the_run() {
    for silent in [false, true] {
        let (mut lab, _, _) = lab_with_log(Reply::Status(204), None);
        let url = if silent {
            log_server(&mut lab, Reply::Stall).1
        } else {
            format!("https://127.0.0.1:{}/log", dead_port())
        };
        let (run, took) = run(&lab, &url, &[]);
        run.ok().says("progress: 6 event(s) not delivered");
        assert!(took < BOUND, "took {took:?}");
        let pending = lab.state().join("report.pending");
        let mode = std::fs::metadata(&pending).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let kept: Vec<String> = read(&pending).lines().map(str::to_string).collect();
        assert_eq!(events(&kept), SUCCESS, "silent={silent}: {kept:#?}");
        no_secret(&kept.join("\n"));
    }
}

#[test]
fn the_next_run_sends_the_kept_events_first() {
    let (mut lab, _, _) = lab_with_log(Reply::Status(204), None);
    let dead = format!("https://127.0.0.1:{}/log", dead_port());
    run(&lab, &dead, &[]).0.ok();
    let pending = lab.state().join("report.pending");
    let kept: Vec<String> = read(&pending).lines().map(str::to_string).collect();

    // Another place this time: the kept events go there too.
    let (log, url) = log_server(&mut lab, Reply::Status(204));
    run(&lab, &url, &["--force"]).0.ok();
    let lines = received(&lab, log);
    assert_eq!(lines[..kept.len()], kept[..], "{lines:#?}");
    assert_eq!(events(&lines[kept.len()..]), SUCCESS);
    let seq = seqs(&lines);
    assert!(seq.windows(2).all(|w| w[0] < w[1]), "{seq:?}");
    let times: Vec<String> = lines.iter().map(|l| field(l, "time")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(!pending.exists(), "the kept events were delivered");
}

#[test]
fn remote_debug_reports_every_step_line() {
    let (lab, log, url) = lab_with_log(Reply::Status(204), None);
    let (run, _) = run(&lab, &url, &["--set", "prm.remote.debug=true"]);
    run.ok();
    let lines = received(&lab, log);
    let debug: Vec<&String> = lines
        .iter()
        .filter(|l| field(l, "event") == "debug")
        .collect();
    for step in ["domain", "discover", "fetch", "install"] {
        let line = debug
            .iter()
            .find(|l| field(l, "step") == step)
            .unwrap_or_else(|| panic!("no debug event of {step}: {lines:#?}"));
        let said = format!("preconf: {step}: {}", field(line, "message"));
        assert!(run.stderr.contains(&said), "{said}");
    }
    // Not the login's lines (a login name), nor the hand-off's (the
    // configurator's arguments).
    for step in ["credentials", "handoff"] {
        assert!(debug.iter().all(|l| field(l, "step") != step), "{debug:#?}");
    }
    // The typed events are there too, in their order.
    let typed: Vec<String> = events(&lines)
        .into_iter()
        .filter(|e| e != "debug")
        .collect();
    assert_eq!(typed, SUCCESS);
    no_secret(&lines.join("\n"));
}

/// Without prm.prv.log, a bundle's report_url is where the log goes, from
/// a provisioning.reference too; the events from before the bundle came
/// waited for it.
#[test]
fn a_bundle_names_the_log_server() {
    let mut lab = quiet_lab();
    let (log, url) = log_server(&mut lab, Reply::Status(204));
    let bundle = standard_routes(&lab).bundle.replace(
        "\"config_url\"",
        &format!("\"report_url\": \"{url}\", \"config_url\""),
    );
    let port = reference_server(&mut lab, &[("/bundle", bundle)]);
    let mut c = lab.preconf();
    c.args(["--no-exec", "--set"]);
    // A one-time token in the reference's query is for its server alone.
    c.arg(format!(
        "provisioning.reference=https://127.0.0.1:{port}/bundle?access_token=SEKRIT-9"
    ));
    Run::of(c).ok();
    let lines = received(&lab, log);
    assert_eq!(events(&lines), SUCCESS, "{lines:#?}");
    assert!(field(&lines[1], "message").starts_with("provisioning.reference https://127.0.0.1:"));
    assert!(
        field(&lines[1], "message").contains("/bundle?…"),
        "{lines:#?}"
    );
    assert!(!lines.join("\n").contains("SEKRIT-9"), "{lines:#?}");
    // No device id given: known from the bundle on.
    assert_eq!(field(&lines[0], "spid"), "null");
    assert_eq!(field(&lines[2], "spid"), "DEV-0001");
}

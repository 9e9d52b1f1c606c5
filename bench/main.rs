//! Benchmarks `preconf` against curl on this machine, in one run, side by
//! side, on loopback: peak memory and wall time of provisioning a large
//! package, and the time from start to hand-off for a small one.
//!
//!     bench/run            (builds, then runs this with the release binary)
//!
//! Options: --bin PATH (the preconf to measure), --runs N (default 5),
//! --sizes MB,MB (default 20,200), --rate MB/s (the server's sending rate, to
//! model a device's link; unthrottled by default). Needs /usr/bin/time and curl.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use data_encoding::HEXLOWER;
use preconf_testlab::https::fill_pattern;
use preconf_testlab::*;
use sha2::{Digest, Sha256};

const HOST: &str = "cfg.example.test";

struct Sample {
    rss_kib: u64,
    secs: f64,
}

fn main() {
    let mut bin: Option<PathBuf> = None;
    let mut runs = 5;
    let mut sizes = vec![20u64, 200];
    let mut rate: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bin = Some(PathBuf::from(args.next().expect("--bin PATH"))),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--rate" => {
                rate = Some(
                    args.next()
                        .and_then(|v| v.parse::<f64>().ok())
                        .expect("--rate MB/s"),
                )
            }
            "--sizes" => {
                sizes = args
                    .next()
                    .expect("--sizes MB,MB")
                    .split(',')
                    .map(|s| s.parse().expect("MB"))
                    .collect()
            }
            other => panic!("unknown argument {other}"),
        }
    }
    // Parsed first: without --bin, the preconf beside this program.
    let bin = bin.unwrap_or_else(preconf_testlab::bin);
    for tool in ["/usr/bin/time", "curl"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success(),
            "{tool} is needed"
        );
    }

    let mut lab = Lab::new();
    lab.rate = rate.map(|mb| (mb * 1e6) as u64);
    let mut routes = HashMap::new();
    let small = b"#!/bin/sh\nexit 0\n".to_vec();
    routes.insert(
        "/bundle-small".to_string(),
        Reply::Body(bundle(&small, small.len() as u64, "pkg-small").into_bytes()),
    );
    routes.insert("/pkg-small".to_string(), Reply::Body(small.clone()));
    for &mb in &sizes {
        let len = mb << 20;
        routes.insert(
            format!("/bundle-{mb}"),
            Reply::Body(bundle(&pattern_sha(len), len, &format!("pkg-{mb}")).into_bytes()),
        );
        routes.insert(format!("/pkg-{mb}"), Reply::Pattern(len));
    }
    let port = lab.serve(HOST, routes);
    lab.start_dns(
        Zone::new()
            .srv(SRV, 10, 1, port, HOST)
            .txt(SRV, "path=/bundle-small")
            .a(HOST, std::net::Ipv4Addr::LOCALHOST),
    );
    // A curl config file keeps the password out of argv, as preconf does.
    let netrc = lab.file(
        "curlrc",
        format!("user = \"{LOGIN}:{PASSWORD}\"\n").as_bytes(),
    );

    println!("preconf: {}", bin.display());
    println!("machine: {}", machine());
    let link = rate.map_or("unthrottled".to_string(), |r| {
        format!("sending at most {r} MB/s")
    });
    println!("runs: {runs} each, medians; loopback HTTPS server in this process, {link}\n");
    println!("| package | tool | peak RSS (KiB) | wall (s) | wall ratio to curl -o /dev/null |");
    println!("|---|---|---:|---:|---:|");
    for &mb in &sizes {
        let url = format!("https://{HOST}:{port}/pkg-{mb}");
        let (mut p, mut c, mut cs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            p.push(timed(&mut preconf(
                &lab,
                &bin,
                &[
                    "--no-exec",
                    "--force",
                    "--server",
                    &format!("https://{HOST}:{port}/bundle-{mb}"),
                ],
            )));
            c.push(timed(&mut curl(&lab, &netrc, port, &url, "-o /dev/null")));
            cs.push(timed(&mut curl(&lab, &netrc, port, &url, "| sha256sum")));
        }
        let base = median(c.iter().map(|s| s.secs).collect());
        for (name, set) in [
            ("preconf (download+sha256+install)", &p),
            ("curl -o /dev/null", &c),
            ("curl piped to sha256sum", &cs),
        ] {
            let secs = median(set.iter().map(|s| s.secs).collect());
            let rss = median(set.iter().map(|s| s.rss_kib as f64).collect());
            println!(
                "| {mb} MB | {name} | {rss:.0} | {secs:.3} | {:.2} |",
                secs / base
            );
        }
    }
    let mut h = Vec::new();
    for _ in 0..runs {
        h.push(timed(&mut preconf(
            &lab,
            &bin,
            &["--force", "--domain", "example.test"],
        )));
    }
    let secs = median(h.iter().map(|s| s.secs).collect());
    println!(
        "\nsmall package, start to hand-off (DNS SRV+TXT+A, TLS, auth, download, install, exec): median {:.1} ms",
        secs * 1000.0
    );
}

fn bundle(sha_of: &[u8], size: u64, pkg: &str) -> String {
    let sha = if sha_of.len() == 64 && sha_of.iter().all(u8::is_ascii_hexdigit) {
        String::from_utf8(sha_of.to_vec()).unwrap()
    } else {
        sha256_hex(sha_of)
    };
    let path = format!("/opt/bench/{pkg}");
    bundle_json(
        &[Pkg {
            arch: "any",
            kind: "exec",
            url: pkg,
            sha256: sha,
            size,
            path: Some(&path),
        }],
        &[&path],
        &[],
    )
}

/// SHA-256 (hex, as bytes) of `len` bytes of the server's pattern.
fn pattern_sha(len: u64) -> Vec<u8> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < len {
        let n = ((len - off) as usize).min(buf.len());
        fill_pattern(&mut buf[..n], off);
        h.update(&buf[..n]);
        off += n as u64;
    }
    HEXLOWER.encode(&h.finalize()).into_bytes()
}

fn preconf(lab: &Lab, bin: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%M %e"])
        .arg(bin)
        .env("PRECONF_PASSWORD", PASSWORD)
        .args(["--user", LOGIN])
        .args(lab.base_args(&lab.path("ca.pem")))
        .args(extra);
    c
}

fn curl(lab: &Lab, netrc: &Path, port: u16, url: &str, tail: &str) -> Command {
    let sh = format!(
        "curl -sS --fail --cacert {} --resolve {HOST}:{port}:127.0.0.1 -K {} {url} {tail} >/dev/null",
        lab.path("ca.pem").display(),
        netrc.display()
    );
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%M %e", "sh", "-c", &sh]);
    c
}

/// Runs under /usr/bin/time for the peak RSS (its last stderr line:
/// "KiB seconds"); the wall time is measured here, to the microsecond.
fn timed(c: &mut Command) -> Sample {
    let t0 = std::time::Instant::now();
    let out = c.stdout(Stdio::null()).output().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{c:?} failed:\n{err}");
    let last = err.lines().last().unwrap_or_default();
    let mut w = last.split_whitespace();
    Sample {
        rss_kib: w.next().unwrap().parse().unwrap(),
        secs,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores, {}", std::env::consts::ARCH)
}

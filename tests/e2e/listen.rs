//! `preconf listen`: the /rminit push endpoint, its login and its bounds,
//! HTTPS, and provisioning from a pushed reference, over real sockets.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use preconf_testlab::peers::Peer;
use preconf_testlab::*;

use crate::dictionary::{mode, quiet_lab, reference_server};

/// The push password of these tests.
const PUSH_PASSWORD: &str = "open sesame 42";

/// `preconf listen` in the lab, its stderr in a file; killed by its pid
/// when dropped.
struct Listener {
    peer: Peer,
    port: u16,
    stdout: PathBuf,
}

impl Listener {
    /// Starts it on a free loopback port, plain http unless `args` say
    /// otherwise, no multicast; waits until it listens.
    fn start(lab: &Lab, args: &[&str]) -> Listener {
        let port = dead_port();
        let mut c = lab.preconf();
        c.arg("listen")
            .args(["--set", "prm.http.provider.address=127.0.0.1"])
            .args(["--set", &format!("prm.http.provider.port={port}")])
            .args(["--set", "mbs.multicast.port=0", "--no-exec"])
            .args(args);
        let log = lab.path(&format!("listen-{port}.log"));
        let stdout = lab.path(&format!("listen-{port}.out"));
        let peer = Peer::spawn_with_stdout("preconf listen", c, &log, &stdout)
            .waiting_at_most(Duration::from_secs(30));
        let mut l = Listener { peer, port, stdout };
        l.wait_for("listening for pushes on");
        l
    }

    fn log(&self) -> String {
        self.peer.log_text()
    }

    /// Waits until its log says `needle`, or fails with the log.
    #[track_caller]
    fn wait_for(&mut self, needle: &str) {
        self.peer.wait_for_log(needle);
    }

    /// Waits for it to exit on its own; its exit code.
    #[track_caller]
    fn exit_code(&mut self) -> Option<i32> {
        self.peer.exit_code(Duration::from_secs(60))
    }

    fn stdout(&self) -> String {
        read(&self.stdout)
    }
}

/// An answer as a raw client read it.
#[derive(Debug)]
struct Answer {
    code: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends `request` as it is over plain TCP and reads the answer.
fn raw(port: u16, request: &[u8]) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Answer {
        code,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Sends `first`, then one byte every `every_ms` until the listener
/// closes the connection; how long it held on.
fn trickle(port: u16, first: &'static [u8], every_ms: u64) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(every_ms)))
            .unwrap();
        let t0 = Instant::now();
        let _ = s.write_all(first);
        loop {
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
            if s.write_all(b"\x00").is_err() || t0.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        t0.elapsed()
    })
}

/// `POST /rminit` of a form.
fn post(port: u16, form: &str) -> Answer {
    raw(
        port,
        format!(
            "POST /rminit HTTP/1.1\r\nHost: device\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    )
}

/// The form of a push logged in as `admin` with `password`.
fn login(password: &str, rest: &str) -> String {
    let password = password.replace(' ', "+");
    format!("user=admin&pass={password}&{rest}")
}

fn set_push_password(lab: &Lab) {
    let mut c = lab.preconf();
    c.args(["props", "set-push-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PUSH_PASSWORD}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("salted PBKDF2 hash"), "{stderr}");
}

/// `preconf props`' value and provider of `key`.
fn shown(lab: &Lab, key: &str) -> Option<(String, String)> {
    crate::dictionary::shown(lab, &[], &[], key)
}

#[test]
fn a_push_needs_the_login_and_every_answer_has_its_real_code() {
    let lab = quiet_lab();
    set_push_password(&lab);
    let hash_file = read(&lab.state().join("storage"));
    assert!(!hash_file.contains(PUSH_PASSWORD), "stored in clear");
    // Even the hash is shown masked, and kept 0600.
    let hash = shown(&lab, "prm.push.password.hash");
    assert_eq!(hash, Some(("********".into(), "stored".into())));
    assert_eq!(mode(&lab.state().join("storage")), 0o600);
    let mut l = Listener::start(&lab, &["--set", "prm.http.provider.secure=false"]);
    l.wait_for("serving plain http");
    let port = l.port;

    let missing = post(l.port, "provisioning.spid=ACME-1");
    assert_eq!(missing.code, 401, "{missing:?}");
    assert_eq!(
        missing.header("WWW-Authenticate").as_deref(),
        Some("Basic realm=\"preconf\"")
    );
    let right = post(
        l.port,
        &login(PUSH_PASSWORD, "provisioning.spid=ACME-1&corp.site=Lab+2"),
    );
    assert_eq!(right.code, 204, "{right:?}");
    assert_eq!(right.body, "");
    assert_eq!(
        shown(&lab, "provisioning.spid"),
        Some(("ACME-1".into(), "push".into()))
    );
    assert_eq!(mode(&lab.state().join("pushed")), 0o600);
    assert_eq!(shown(&lab, "corp.site").unwrap().0, "Lab");

    // A wrong guess, then the address must wait, even with the right one.
    let wrong = post(l.port, &login("guess", "provisioning.spid=EVIL"));
    assert_eq!(wrong.code, 401, "{wrong:?}");
    assert!(wrong.body.contains("waits 1 s"), "{wrong:?}");
    let early = post(l.port, &login(PUSH_PASSWORD, "provisioning.spid=ACME-2"));
    assert_eq!(early.code, 429, "{early:?}");
    let wait: u64 = early.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{early:?}");
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(300));
    // The second wrong guess doubles the wait.
    let again = post(l.port, &login("guess2", "provisioning.spid=EVIL"));
    assert!(again.body.contains("waits 2 s"), "{again:?}");
    std::thread::sleep(Duration::from_millis(2300));
    let later = post(l.port, &login(PUSH_PASSWORD, "provisioning.spid=ACME-2"));
    assert_eq!(later.code, 204, "{later:?}");
    assert_eq!(shown(&lab, "provisioning.spid").unwrap().0, "ACME-2");

    // Get-Id: the spid, setting nothing; HTTP Basic works as well.
    let basic = data_encoding::BASE64.encode(format!("admin:{PUSH_PASSWORD}").as_bytes());
    let id = raw(
        l.port,
        format!(
            "GET /rminit HTTP/1.1\r\nHost: d\r\nGet-Id: 1\r\nAuthorization: Basic {basic}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(
        (id.code, id.header("Gw-Id")),
        (204, Some("ACME-2".into())),
        "{id:?}"
    );
    let anonymous = raw(
        l.port,
        b"GET /rminit HTTP/1.1\r\nHost: d\r\nGet-Id: 1\r\n\r\n",
    );
    assert_eq!(anonymous.code, 401, "{anonymous:?}");
    assert_eq!(anonymous.header("Gw-Id"), None);

    // The rest of the table: real codes, never 200 with an error inside.
    let get = raw(l.port, b"GET /rminit HTTP/1.1\r\nHost: d\r\n\r\n");
    assert_eq!(
        (get.code, get.header("Allow")),
        (405, Some("POST, GET".into()))
    );
    assert_eq!(
        raw(l.port, b"GET /other HTTP/1.1\r\nHost: d\r\n\r\n").code,
        404
    );
    let json = raw(
        l.port,
        b"POST /rminit HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(json.code, 415);
    let typo = post(l.port, &login(PUSH_PASSWORD, "provisioning.spidd=X"));
    assert_eq!(typo.code, 400, "{typo:?}");
    assert!(typo.body.contains("provisioning.spidd"), "{typo:?}");
    let own = post(l.port, &login(PUSH_PASSWORD, "prm.require.auth=false"));
    assert_eq!(
        own.code, 400,
        "a push may not change the device's own settings: {own:?}"
    );
    assert!(own.body.contains("device's own setting"), "{own:?}");
    assert_eq!(raw(l.port, b"\x16\x03\x01 not http\r\n\r\n").code, 400);
    // What a push may not carry: whom to trust, what to run, plain http,
    // control characters; a flag's name is its key's.
    for (form, why) in [
        ("provisioning.rootx509=x", "which a push may not change"),
        (
            "provisioning.start.bundle=/bin/sh+-c+id",
            "which a push may not change",
        ),
        ("provisioning.reference=http://10.0.0.1/x", "plain-http"),
        ("provisioning.spid=a%0D%0AX-Evil:+1", "control character"),
        ("device-id=A&provisioning.spid=B", "given twice"),
    ] {
        let refused = post(l.port, &login(PUSH_PASSWORD, form));
        assert_eq!(refused.code, 400, "{form}: {refused:?}");
        assert!(refused.body.contains(why), "{form}: {refused:?}");
    }
    assert_eq!(
        post(l.port, &login(PUSH_PASSWORD, "device-id=ALIAS-1")).code,
        204
    );
    assert_eq!(shown(&lab, "provisioning.spid").unwrap().0, "ALIAS-1");
    let spid = post(l.port, &login(PUSH_PASSWORD, "provisioning.spid=ACME-2"));
    assert_eq!(spid.code, 204, "{spid:?}");
    // Guesses in parallel from one address: one is checked, the rest wait.
    let guesses: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || post(port, &login(&format!("guess{i}"), "corp.x=1")).code)
        })
        .collect();
    let mut codes: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    codes.sort();
    assert_eq!(codes.iter().filter(|c| **c == 401).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| [401, 429].contains(c)), "{codes:?}");

    // What was pushed is undone as what was stored is.
    let mut c = lab.preconf();
    c.args(["props", "unset", "corp.site"]);
    Run::of(c).ok().says("removed corp.site from");
    assert_eq!(shown(&lab, "corp.site"), None);
    assert_eq!(shown(&lab, "provisioning.spid").unwrap().0, "ACME-2");

    let log = l.log();
    assert!(
        !log.contains(PUSH_PASSWORD) && !log.contains("open+sesame"),
        "{log}"
    );
    assert!(
        log.contains("POST /rminit: 401 Wrong login or password"),
        "{log}"
    );
}

#[test]
fn listen_refuses_to_start_unsafe_unless_told() {
    let lab = quiet_lab();
    let mut c = lab.preconf();
    c.args(["listen", "--set", "prm.http.provider.secure=false"]);
    Run::of(c).fails(78, "set one with preconf props set-push-password");
    set_push_password(&lab);
    // HTTPS is the default, and needs the device's certificate.
    let mut c = lab.preconf();
    c.arg("listen");
    Run::of(c).fails(78, "set prm.http.provider.cert and prm.http.provider.key");

    // Anyone may push when the device says so, and the log says it each time.
    let mut l = Listener::start(
        &lab,
        &[
            "--set",
            "prm.http.provider.secure=false",
            "--set",
            "prm.require.auth=false",
        ],
    );
    l.wait_for("prm.require.auth=false: anyone who reaches the port can provision this device");
    assert_eq!(post(l.port, "provisioning.spid=OPEN-1").code, 204);
    assert_eq!(post(l.port, "provisioning.spid=OPEN-2").code, 204);
    let pushes = l
        .log()
        .matches("without a login (prm.require.auth=false)")
        .count();
    assert_eq!(pushes, 2, "{}", l.log());
}

#[test]
fn requests_are_bounded_and_a_slow_client_blocks_no_one() {
    let lab = quiet_lab();
    set_push_password(&lab);
    let l = Listener::start(&lab, &["--set", "prm.http.provider.secure=false"]);

    // One byte a second: dropped when its time is up.
    let port = l.port;
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(900)))
            .unwrap();
        let t0 = Instant::now();
        for b in b"POST /rminit HTTP/1.1\r\nHost: d\r\n".iter().cycle() {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            let mut buf = [0u8; 64];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => return Err(String::from_utf8_lossy(&buf[..n]).to_string()),
                Err(_) if t0.elapsed() < Duration::from_secs(40) => {}
                Err(e) => return Err(format!("never dropped: {e}")),
            }
        }
        Ok(t0.elapsed())
    });
    std::thread::sleep(Duration::from_secs(2));
    // Meanwhile another client is served at once.
    let other = post(l.port, &login(PUSH_PASSWORD, "provisioning.spid=FAST"));
    assert_eq!(other.code, 204, "{other:?}");
    let held = slow.join().unwrap().expect("the slow client got no answer");
    assert!(held >= Duration::from_secs(5), "dropped after {held:?}");
    assert!(
        l.log()
            .contains("dropped: the request took longer than 10 s"),
        "{}",
        l.log()
    );

    // After the answer, a client that goes on sending is cut off soon.
    let mut s = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    s.write_all(b"GET /nothing HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 404"));
    let t0 = Instant::now();
    while s.write_all(b"x").is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(20), "never cut off");
        std::thread::sleep(Duration::from_millis(200));
    }

    let huge = raw(
        l.port,
        b"POST /rminit HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n",
    );
    assert_eq!(huge.code, 413, "{huge:?}");
    let headers: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
    let many = raw(
        l.port,
        format!("GET /rminit HTTP/1.1\r\n{headers}\r\n").as_bytes(),
    );
    assert_eq!(many.code, 431, "{many:?}");
    let long = raw(
        l.port,
        format!("GET /rminit HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000)).as_bytes(),
    );
    assert_eq!(long.code, 431, "{long:?}");
    let chunked = raw(
        l.port,
        b"POST /rminit HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(chunked.code, 411, "{chunked:?}");
    let fields: Vec<String> = (0..70).map(|i| format!("corp.f{i}=v")).collect();
    let wide = post(l.port, &login(PUSH_PASSWORD, &fields.join("&")));
    assert_eq!(wide.code, 400, "{wide:?}");
}

#[test]
fn the_endpoint_is_https_only_by_default() {
    let lab = quiet_lab();
    set_push_password(&lab);
    let device = lab.server_ca.issue(&["device.test"]);
    let cert = lab.file("device.pem", device.cert_pem.as_bytes());
    let key = lab.file("device.key", device.key_pem.as_bytes());
    let l = Listener::start(
        &lab,
        &[
            "--set",
            &format!("prm.http.provider.cert={}", cert.display()),
            "--set",
            &format!("prm.http.provider.key={}", key.display()),
        ],
    );
    assert!(
        l.log()
            .contains(&format!("https://127.0.0.1:{}/rminit", l.port))
    );
    // A TLS handshake a byte at a time is held to the same 10 s.
    let slow_tls = trickle(l.port, b"\x16\x03\x01\x40\x00", 2000);
    // curl, verifying the device's certificate, posts the form from stdin.
    let form = login(PUSH_PASSWORD, "provisioning.spid=TLS-1");
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "20", "--cacert"])
        .arg(lab.path("ca.pem"))
        .args(["--resolve", &format!("device.test:{}:127.0.0.1", l.port)])
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
            "@-",
        ])
        .arg(format!("https://device.test:{}/rminit", l.port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("curl is needed (.ci/deps)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(form.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "204",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(shown(&lab, "provisioning.spid").unwrap().0, "TLS-1");
    let held = slow_tls.join().unwrap();
    assert!(held < Duration::from_secs(25), "held {held:?}");
    // Plain http on the same port gets no HTTP answer at all.
    let plain = post(l.port, &login(PUSH_PASSWORD, "provisioning.spid=PLAIN"));
    assert!(!plain.head.starts_with("HTTP/"), "{plain:?}");
    assert_eq!(shown(&lab, "provisioning.spid").unwrap().0, "TLS-1");
}

#[test]
fn a_pushed_reference_provisions_the_device_and_listen_ends_with_the_run() {
    let mut lab = quiet_lab();
    set_push_password(&lab);
    let port = reference_server(&mut lab, &[]);
    let url = format!("https://127.0.0.1:{port}/bundle");
    let mut l = Listener::start(&lab, &["--set", "prm.http.provider.secure=false"]);
    let form = format!("provisioning.reference={url}&provisioning.spid=PUSHED-7");
    let pushed = post(l.port, &login(PUSH_PASSWORD, &form));
    assert_eq!(pushed.code, 204, "{pushed:?}");
    assert_eq!(l.exit_code(), Some(0), "{}", l.log());
    let log = l.log();
    assert!(log.contains(&format!("provisioning from {url}")), "{log}");
    assert!(
        l.stdout().contains("/usr/bin/corp-configurator --enroll"),
        "{log}"
    );
    assert!(lab.state().join("receipt.json").is_file(), "{log}");
    let mut c = lab.preconf();
    c.args(["status", "--json"]);
    let status = Run::of(c);
    status.ok();
    assert!(status.stdout.contains(&url), "{}", status.stdout);
    // A provisioned device refuses a new reference, and says why.
    let l = Listener::start(&lab, &["--set", "prm.http.provider.secure=false"]);
    let again = post(l.port, &login(PUSH_PASSWORD, &form));
    assert_eq!(again.code, 409, "{again:?}");
    assert!(
        again.body.contains("prm.reprovision.onstart=true"),
        "{again:?}"
    );
}

#[test]
fn a_push_during_a_run_is_busy_a_cut_run_resumes_and_a_failed_one_waits() {
    let mut lab = quiet_lab();
    set_push_password(&lab);
    // The bundle never comes: the run waits for its io-timeout, then fails.
    let routes = HashMap::from([("/stall".to_string(), Reply::Stall)]);
    let port = lab.serve_with("127.0.0.1", routes, false, None);
    let url = format!("https://127.0.0.1:{port}/stall");
    let plain = ["--set", "prm.http.provider.secure=false"];
    let mut l = Listener::start(&lab, &[&plain[..], &["--io-timeout", "30"]].concat());
    let form = format!("provisioning.reference={url}");
    assert_eq!(post(l.port, &login(PUSH_PASSWORD, &form)).code, 204);
    l.wait_for("reference: ");
    let busy = post(l.port, &login(PUSH_PASSWORD, "provisioning.spid=LATE"));
    assert_eq!(busy.code, 409, "{busy:?}");
    assert!(busy.body.contains("under way"), "{busy:?}");
    assert_ne!(
        shown(&lab, "provisioning.spid").map(|s| s.0),
        Some("LATE".into())
    );
    // The power goes: the listener dies in the middle of the run.
    drop(l);

    // The next listener resumes the cut run at once; this time it fails.
    let mut again = Listener::start(&lab, &[&plain[..], &["--io-timeout", "1"]].concat());
    again.wait_for("provisioning from the provisioning.reference pushed before the restart");
    let code = again.exit_code();
    assert!(
        matches!(code, Some(c) if c != 0),
        "{code:?}: {}",
        again.log()
    );
    assert!(again.log().contains("preconf: error:"), "{}", again.log());

    // A run that ended in failure is not tried again: the next listener
    // waits for a push, and takes one.
    let third = Listener::start(&lab, &plain);
    let fixed = post(third.port, &login(PUSH_PASSWORD, "provisioning.spid=NEXT"));
    assert_eq!(fixed.code, 204, "{fixed:?}: {}", third.log());
    assert!(
        !third.log().contains("pushed before the restart"),
        "{}",
        third.log()
    );
}

#[test]
fn with_listen_after_run_the_endpoint_stays_up() {
    let mut lab = quiet_lab();
    set_push_password(&lab);
    let port = reference_server(&mut lab, &[]);
    let url = format!("https://127.0.0.1:{port}/bundle");
    let mut l = Listener::start(
        &lab,
        &[
            "--set",
            "prm.http.provider.secure=false",
            "--set",
            "prm.listen.after.run=true",
        ],
    );
    let form = format!("provisioning.reference={url}&provisioning.spid=STAY-1");
    assert_eq!(post(l.port, &login(PUSH_PASSWORD, &form)).code, 204);
    l.wait_for("the run has ended; listening on");
    assert!(lab.state().join("receipt.json").is_file(), "{}", l.log());
    let again = post(l.port, &login(PUSH_PASSWORD, &form));
    assert_eq!(again.code, 409, "{again:?}");
    let basic = data_encoding::BASE64.encode(format!("admin:{PUSH_PASSWORD}").as_bytes());
    let id = raw(
        l.port,
        format!("GET /rminit HTTP/1.1\r\nGet-Id: 1\r\nAuthorization: Basic {basic}\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(id.header("Gw-Id").as_deref(), Some("STAY-1"), "{id:?}");
}

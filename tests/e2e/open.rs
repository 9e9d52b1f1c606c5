//! `preconf open`: provisioning from a link document, as a browser hands
//! over a one-time link sent by SMS.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use preconf_testlab::*;

const TOKEN: &str = "tok-7Hq2xWm9LpZr4Vb8";
const MEDIA: &str = "application/x-maemo-autoconfiguration";

/// cfg1.example.test serves the standard bundle once for TOKEN (and the
/// package to anyone); sms.example.test serves link documents.
struct LinkLab {
    lab: Lab,
    /// cfg1's port, for documents naming its bundle.
    port: u16,
    script: Vec<u8>,
}

impl LinkLab {
    fn new() -> LinkLab {
        LinkLab::with_bundle_route(|body| Reply::once(TOKEN, body))
    }

    fn with_bundle_route(bundle: impl FnOnce(Vec<u8>) -> Reply) -> LinkLab {
        let mut lab = Lab::new();
        let s = standard_routes(&lab);
        let mut routes = s.routes;
        routes.insert("/bundle".into(), bundle(s.bundle.into_bytes()));
        let port = lab.serve_with("cfg1.example.test", routes, false, None);
        lab.start_dns(
            Zone::new()
                .a("cfg1.example.test", Ipv4Addr::LOCALHOST)
                .a("sms.example.test", Ipv4Addr::LOCALHOST),
        );
        LinkLab {
            lab,
            port,
            script: s.script,
        }
    }

    fn bundle_url(&self) -> String {
        format!("https://cfg1.example.test:{}/bundle", self.port)
    }

    /// A document naming cfg1's bundle, with `extra` fields.
    fn doc(&self, extra: &str) -> String {
        format!(
            r#"{{ "format": 1, "url": "{}", "domain": "example.test"{extra} }}"#,
            self.bundle_url()
        )
    }

    fn token_doc(&self) -> String {
        self.doc(&format!(
            r#", "token": "{TOKEN}", "expires": "2099-01-01T00:00:00Z""#
        ))
    }

    /// Serves `body` at https://sms.example.test:PORT/l/1 as `content_type`.
    fn serve_link(&mut self, content_type: &str, body: &str) -> String {
        let routes = HashMap::from([(
            "/l/1".to_string(),
            Reply::Typed(content_type.into(), body.as_bytes().to_vec()),
        )]);
        let port = self.lab.serve_with("sms.example.test", routes, false, None);
        format!("https://sms.example.test:{port}/l/1")
    }

    fn file(&self, body: &str) -> PathBuf {
        self.lab
            .file("Downloads/corp.maemo-autoconf", body.as_bytes())
    }

    /// preconf with the lab's flags, no password anywhere and no askpass
    /// helper on PATH.
    fn command(&self) -> Command {
        let mut c = self.lab.preconf();
        c.env_remove("PRECONF_PASSWORD")
            .env("PATH", no_askpass_path());
        c
    }

    /// `preconf open DOC EXTRA…`, as [`LinkLab::command`].
    fn open(&self, doc: &str, extra: &[&str]) -> Run {
        let mut c = self.command();
        c.arg("open").arg(doc).args(extra);
        Run::of(c)
    }

    /// Requests that reached cfg1's bundle.
    fn bundle_requests(&self) -> usize {
        self.lab.servers[0]
            .requests()
            .iter()
            .filter(|r| r.path == "/bundle")
            .count()
    }

    /// Every request, of every server, that carried the token.
    fn token_requests(&self) -> Vec<String> {
        self.lab
            .servers
            .iter()
            .flat_map(|s| s.requests())
            .filter(|r| r.headers.values().any(|v| v.contains(TOKEN)))
            .map(|r| r.path)
            .collect()
    }

    fn nothing_written(&self, run: &Run) {
        assert!(
            files_under(&self.lab.root()).is_empty(),
            "files written: {:?}\n{}",
            files_under(&self.lab.root()),
            run.stderr
        );
        assert_eq!(self.bundle_requests(), 0, "the bundle was requested");
    }
}

/// PATH without zenity or ssh-askpass, should the machine have them.
fn no_askpass_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|d| !d.join("zenity").exists() && !d.join("ssh-askpass").exists())
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// The token is in no output and no file the runs wrote.
fn token_nowhere(l: &LinkLab, runs: &[&Run]) {
    for r in runs {
        assert!(
            !r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN),
            "{}",
            r.stderr
        );
    }
    let holding = files_holding(&l.lab.root(), TOKEN.as_bytes());
    assert!(holding.is_empty(), "the token is in {holding:?}");
}

#[test]
fn https_link_provisions_once_with_its_token() {
    let mut l = LinkLab::new();
    let doc = l.token_doc();
    let link = l.serve_link(MEDIA, &doc);
    // No --no-exec: the configurator runs, and its environment is checked too.
    let first = l.open(&link, &["--yes"]);
    first
        .ok()
        .says(&format!("link: {} from {link}", l.bundle_url()))
        .says("with a one-time token")
        .says("credentials: the link's one-time token (no login asked)");
    assert_eq!(
        std::fs::read(l.lab.root().join("usr/bin/corp-configurator")).unwrap(),
        l.script
    );
    let handoff = read(&l.lab.root().join("handoff.txt"));
    assert!(
        handoff.contains("PRECONF_SERVER=https://cfg1.example.test:"),
        "{handoff}"
    );
    let receipt = read(&l.lab.state().join("receipt.json"));
    assert!(receipt.contains(r#""via":"link""#), "{receipt}");
    assert!(
        receipt.contains(&format!(r#""server":"{}""#, l.bundle_url())),
        "{receipt}"
    );
    assert_eq!(
        l.token_requests(),
        ["/bundle"],
        "the token goes once, to the bundle"
    );

    // Run-once, as for `preconf run`.
    let again = l.open(&link, &["--yes"]);
    again.ok().says("this device was provisioned on");
    // Forced, the spent token is refused by the server.
    let spent = l.open(&link, &["--yes", "--force"]);
    spent.fails(
        77,
        "this link was already used or has expired; ask your IT department for a new one.",
    );
    assert_eq!(l.token_requests().len(), 2);
    token_nowhere(&l, &[&first, &again, &spent]);
    let status = Run::of({
        let mut c = command();
        c.args(["status", "--root"]).arg(l.lab.root());
        c
    });
    status.ok();
    assert!(
        status.stdout.contains("via          link"),
        "{}",
        status.stdout
    );
}

#[test]
fn file_link_provisions_from_a_path_or_a_file_url() {
    let l = LinkLab::new();
    let file = l.file(&l.token_doc());
    let url = format!("file://{}", file.display());
    let run = l.open(&url, &["--yes", "--no-exec"]);
    run.ok().says(&format!("from {}", file.display()));
    assert!(l.lab.root().join("usr/bin/corp-configurator").is_file());
    token_nowhere(&l, &[&run]);

    // A plain path works the same; this token is spent, so the server says so.
    let again = l.open(file.to_str().unwrap(), &["--yes", "--no-exec", "--force"]);
    again.fails(77, "this link was already used or has expired");
    token_nowhere(&l, &[&again]);
}

#[test]
fn without_a_token_the_login_is_asked_as_by_dns() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg1.example.test", s.routes);
    lab.start_dns(Zone::new().a("cfg1.example.test", Ipv4Addr::LOCALHOST));
    let doc = format!(r#"{{"format":1,"url":"https://cfg1.example.test:{port}/bundle"}}"#);
    let file = lab.file("doc.maemo-autoconf", doc.as_bytes());
    let mut c = lab.preconf();
    c.arg("open").arg(&file).args(["--yes", "--no-exec"]);
    Run::of(c)
        .ok()
        .says("credentials: login jdoe (password from PRECONF_PASSWORD)");
}

#[test]
fn the_person_is_asked_and_no_means_nothing_changes() {
    let l = LinkLab::new();
    let file = l.file(&l.token_doc());
    let doc = file.to_str().unwrap();
    // No terminal, no askpass helper, no --yes: say how to proceed.
    let run = l.open(doc, &["--no-exec"]);
    run.fails(
        64,
        "no terminal or askpass helper to confirm provisioning from cfg1.example.test (example.test); pass --yes to accept the link.",
    );
    l.nothing_written(&run);

    // An askpass helper answers; a cancelled dialog is a no.
    let helper = askpass(&l.lab, "my-askpass", &["!1", ""]);
    let mut c = l.command();
    c.env("PRECONF_ASKPASS", &helper)
        .args(["open", doc, "--no-exec"]);
    let declined = Run::of(c);
    declined.fails(
        77,
        "provisioning from cfg1.example.test (example.test) was declined; nothing was changed.",
    );
    l.nothing_written(&declined);

    let mut c = l.command();
    c.env("PRECONF_ASKPASS", &helper)
        .args(["open", doc, "--no-exec"]);
    Run::of(c)
        .ok()
        .says("confirm: cfg1.example.test (example.test) accepted");
    assert_eq!(
        read(&l.lab.path("asked")),
        "confirm|Provision this device from cfg1.example.test (example.test)?\n".repeat(2)
    );
}

#[test]
fn a_document_served_as_anything_else_is_refused() {
    let mut l = LinkLab::new();
    let doc = l.token_doc();
    let link = l.serve_link("text/html; charset=utf-8", &doc);
    let run = l.open(&link, &["--yes"]);
    run.fails(
        65,
        "answered with content type text/html; charset=utf-8, not application/x-maemo-autoconfiguration",
    );
    l.nothing_written(&run);
}

#[test]
fn expired_documents_are_refused_before_any_request() {
    let l = LinkLab::new();
    let doc = l.doc(&format!(
        r#", "token": "{TOKEN}", "expires": "2020-01-01T00:00:00+01:00""#
    ));
    let run = l.open(l.file(&doc).to_str().unwrap(), &["--yes"]);
    run.fails(
        77,
        "this link expired at 2019-12-31T23:00:00Z; ask your IT department for a new one.",
    );
    l.nothing_written(&run);
    assert!(l.lab.servers[0].requests().is_empty());
}

#[test]
fn malformed_documents_are_refused_naming_the_problem() {
    let l = LinkLab::new();
    let plain = format!(
        r#"{{"format":1,"url":"http://cfg1.example.test:{}/bundle"}}"#,
        l.port
    );
    let huge = l.doc(&format!(r#", "padding": "{}""#, "x".repeat(64 * 1024)));
    for (doc, code, says) in [
        (plain.as_str(), 65, "\"url\" must be an https:// URL"),
        ("{\"format\":1,\"url\":", 65, "it is not JSON"),
        (r#"{"format":1,"configuratator":{{"#, 65, "it is not JSON"),
        (huge.as_str(), 65, "is larger than 64 KiB"),
    ] {
        let run = l.open(l.file(doc).to_str().unwrap(), &["--yes"]);
        run.fails(code, says);
        l.nothing_written(&run);
    }
    // Over https too, however the server frames it.
    let mut l = l;
    let link = l.serve_link(MEDIA, &huge);
    l.open(&link, &["--yes"]).fails(65, "is larger than 64 KiB");
    l.open("http://sms.example.test/l/1", &["--yes"])
        .fails(64, "is plain http");
}

#[test]
fn a_document_narrows_trust_and_never_adds_to_it() {
    let l = LinkLab::new();
    let other = Ca::new("Other CA");
    let other_pem = l.lab.file("other-ca.pem", other.pem().as_bytes());
    let sha = |ca: &Ca| sha256_hex(&ca.der());

    // ca_sha256 names a CA the device trusts, but not the server's.
    let doc = l.doc(&format!(
        r#", "token": "{TOKEN}", "ca_sha256": "{}""#,
        sha(&other)
    ));
    let file = l.file(&doc);
    let mut c = l.command();
    c.args(["--ca", other_pem.to_str().unwrap(), "open"])
        .arg(&file)
        .arg("--yes");
    let run = Run::of(c);
    run.fails(
        78,
        "no configuration server could be verified (1 tried; last: https://cfg1.example.test:",
    );
    l.nothing_written(&run);

    // ca_sha256 names a CA the device does not trust: a link adds nothing.
    let run = l.open(file.to_str().unwrap(), &["--yes"]);
    run.fails(78, "which this device does not trust");
    l.nothing_written(&run);

    // Naming the server's own CA narrows to it, and works.
    let doc = l.doc(&format!(
        r#", "token": "{TOKEN}", "ca_sha256": "{}""#,
        sha(&l.lab.server_ca).to_uppercase()
    ));
    let mut c = l.command();
    c.args(["--ca", other_pem.to_str().unwrap(), "open"])
        .arg(l.file(&doc))
        .args(["--yes", "--no-exec"]);
    Run::of(c).ok().says("trusting only the CA it names");
}

#[test]
fn a_server_only_an_outside_ca_verifies_is_refused() {
    let l = LinkLab::new();
    let mut c = l
        .lab
        .preconf_trusting(&l.lab.file("other.pem", Ca::new("Other").pem().as_bytes()));
    c.env_remove("PRECONF_PASSWORD")
        .arg("open")
        .arg(l.file(&l.token_doc()))
        .arg("--yes");
    let run = Run::of(c);
    run.fails(
        78,
        "no configuration server could be verified (1 tried; last: https://cfg1.example.test:",
    );
    l.nothing_written(&run);
}

#[test]
fn on_a_terminal_the_question_shows_host_and_domain() {
    let l = LinkLab::new();
    let file = l.file(&l.token_doc());
    let argv = |extra: &[&str]| {
        let mut a = argv0();
        a.extend(l.lab.base_args(&l.lab.path("ca.pem")));
        a.extend([
            "open".to_string(),
            file.display().to_string(),
            "--no-exec".into(),
        ]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Enter takes the default, which is no.
    let mut t = preconf_testlab::tty::Tty::spawn(&argv(&[]), &[]);
    t.expect("Provision this device from cfg1.example.test (example.test)? [y/N] ");
    t.type_line("");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(77), "{screen}");
    assert_eq!(l.bundle_requests(), 0);

    let mut t = preconf_testlab::tty::Tty::spawn(&argv(&[]), &[]);
    t.expect("[y/N] ");
    t.type_line("y");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        !screen.contains(TOKEN) && !screen.contains("Password"),
        "{screen}"
    );
}

#[test]
fn the_token_never_follows_a_redirect_to_another_origin() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let mut cfg2_routes = s.routes.clone();
    cfg2_routes.insert("/bundle".into(), Reply::once(TOKEN, s.bundle.into_bytes()));
    let cfg2 = lab.serve_with("cfg2.example.test", cfg2_routes, false, None);
    let to = format!("https://cfg2.example.test:{cfg2}/bundle");
    let routes = HashMap::from([("/bundle".to_string(), Reply::Redirect(302, to))]);
    let cfg1 = lab.serve_with("cfg1.example.test", routes, false, None);
    lab.start_dns(
        Zone::new()
            .a("cfg1.example.test", Ipv4Addr::LOCALHOST)
            .a("cfg2.example.test", Ipv4Addr::LOCALHOST),
    );
    let doc = format!(
        r#"{{"format":1,"url":"https://cfg1.example.test:{cfg1}/bundle","token":"{TOKEN}"}}"#
    );
    let file = lab.file("doc.maemo-autoconf", doc.as_bytes());
    let mut c = lab.preconf();
    c.env_remove("PRECONF_PASSWORD")
        .arg("open")
        .arg(&file)
        .args(["--yes", "--no-exec"]);
    Run::of(c).fails(
        77,
        "redirected the bundle request to https://cfg2.example.test:",
    );
    let cfg2_log = lab.servers[0].requests();
    assert_eq!(cfg2_log.len(), 1, "cfg2 was asked once, without the token");
    assert!(
        !cfg2_log[0].headers.contains_key("authorization"),
        "the token followed the redirect: {:?}",
        cfg2_log[0].headers
    );
    assert!(lab.servers[1].requests()[0].headers["authorization"].ends_with(TOKEN));
    assert!(!lab.root().exists());
}

#[test]
fn the_link_server_learns_nothing_of_the_device_before_yes() {
    let mut l = LinkLab::new();
    let link = l.serve_link(MEDIA, &l.token_doc());
    let mut c = l.command();
    c.args(["--device-id", "SERIAL-0042", "open", &link]);
    Run::of(c).fails(64, "no terminal or askpass helper to confirm provisioning");
    let asked = l.lab.servers[1].requests();
    assert_eq!(asked.len(), 1);
    assert!(
        !asked[0].headers.contains_key("x-preconf-device-id"),
        "{:?}",
        asked[0].headers
    );
}

#[test]
fn no_typed_into_an_askpass_entry_is_no() {
    let l = LinkLab::new();
    let mut c = l.command();
    c.env("PRECONF_ASKPASS", askpass(&l.lab, "my-askpass", &["no"]))
        .arg("open")
        .arg(l.file(&l.token_doc()))
        .arg("--no-exec");
    let run = Run::of(c);
    run.fails(77, "was declined; nothing was changed.");
    l.nothing_written(&run);
}

#[test]
fn a_redirect_to_a_server_nobody_was_asked_about_is_refused() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let evil = lab.serve_with("cdn.evil.test", s.routes, false, None);
    let to = format!("https://cdn.evil.test:{evil}/bundle");
    let routes = HashMap::from([("/logout".to_string(), Reply::Redirect(302, to))]);
    let port = lab.serve_with("cfg1.example.test", routes, false, None);
    lab.start_dns(
        Zone::new()
            .a("cfg1.example.test", Ipv4Addr::LOCALHOST)
            .a("cdn.evil.test", Ipv4Addr::LOCALHOST),
    );
    let doc = format!(
        r#"{{"format":1,"url":"https://cfg1.example.test:{port}/logout","domain":"example.test"}}"#
    );
    let mut c = lab.preconf();
    c.arg("open")
        .arg(lab.file("doc.maemo-autoconf", doc.as_bytes()))
        .args(["--yes", "--no-exec"]);
    Run::of(c).fails(
        77,
        "redirected the bundle request to https://cdn.evil.test:",
    );
    assert!(!lab.root().join("usr/bin/corp-configurator").exists());
    assert!(!lab.state().join("receipt.json").exists());
}

#[test]
fn the_devices_own_domain_guards_a_link() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let port = lab.serve("cfg.evil.test", s.routes);
    lab.start_dns(Zone::new().a("cfg.evil.test", Ipv4Addr::LOCALHOST));
    let url = format!("https://cfg.evil.test:{port}/bundle");
    let open = |doc: String, helper: Option<PathBuf>| {
        let mut c = lab.preconf();
        c.env("PATH", no_askpass_path())
            .args(["--domain", DOMAIN, "open"])
            .arg(lab.file("doc.maemo-autoconf", doc.as_bytes()))
            .arg("--no-exec");
        if let Some(h) = helper {
            c.env("PRECONF_ASKPASS", h);
        }
        Run::of(c)
    };
    // A document may not claim another domain than the device's.
    open(
        format!(r#"{{"format":1,"url":"{url}","domain":"evil.test"}}"#),
        None,
    )
    .fails(
        77,
        "the link is for the domain evil.test, and this device belongs to example.test (--domain)",
    );
    // Without one, the server is held to the device's domain: the guard asks.
    open(
        format!(r#"{{"format":1,"url":"{url}"}}"#),
        Some(askpass(&lab, "my-askpass", &[])),
    )
    .ok();
    assert_eq!(
        read(&lab.path("asked")),
        "confirm|Provision this device from cfg.evil.test (example.test)?\n\
         confirm|The configuration server cfg.evil.test is outside example.test. Provision this device from it?\n"
    );
}

#[test]
fn what_a_server_says_is_shown_without_control_characters() {
    let mut l = LinkLab::new();
    let link = l.serve_link("text/html\u{202e}\u{9b}31m", "x");
    let run = l.open(&link, &["--yes"]);
    run.fails(65, "answered with content type text/html");
    assert!(
        !run.stderr.contains('\u{202e}')
            && !run.stderr.contains('\u{9b}')
            && !run.stderr.contains('\x1b'),
        "{:?}",
        run.stderr
    );
}

/// The whole way in from a browser: a downloaded document, opened with the
/// real xdg-open through the installed desktop registration, starts
/// `preconf open` with no terminal; the askpass helper asks the question,
/// and the device is provisioned.
#[test]
fn xdg_open_on_a_downloaded_link_provisions_the_device() {
    let l = LinkLab::new();
    let doc = l.file(&l.token_doc());
    // The entry's Exec, with the lab's flags (xdg-open splits at spaces).
    let mut line: Vec<String> = argv0();
    line.extend(l.lab.base_args(&l.lab.path("ca.pem")));
    let wrapper = l.lab.file(
        "bin/preconf-in-lab",
        format!("#!/bin/sh\nexec {} \"$@\" --no-exec\n", line.join(" ")).as_bytes(),
    );
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let xdg = preconf_testlab::desktop::install(
        &l.lab.path("xdg"),
        &format!("{} open %u", wrapper.display()),
    );
    let mut c = xdg.command("setsid");
    // setsid: no controlling terminal, as when a browser starts it.
    c.args(["-w", "xdg-open"])
        .arg(&doc)
        .env("DISPLAY", ":0")
        .env("PATH", no_askpass_path())
        .env("PRECONF_ASKPASS", askpass(&l.lab, "my-askpass", &[]));
    let run = Run::of(c);
    run.ok()
        .says(&format!("link: {} from {}", l.bundle_url(), doc.display()))
        .says("confirm: cfg1.example.test (example.test) accepted");
    assert_eq!(
        read(&l.lab.path("asked")),
        "confirm|Provision this device from cfg1.example.test (example.test)?\n"
    );
    assert!(l.lab.root().join("usr/bin/corp-configurator").is_file());
    assert!(read(&l.lab.state().join("receipt.json")).contains(r#""via":"link""#));
    token_nowhere(&l, &[&run]);
}

//! No terminal (a run started by a browser or a unit): every question goes
//! to the askpass helper, by the ssh-askpass convention or zenity's.

use preconf_testlab::*;

/// The domain comes from resolv.conf, so it must be confirmed; the login
/// and password are asked: three questions, no terminal.
fn unattended(lab: &Lab) -> std::process::Command {
    let resolv = lab.file("resolv.conf", format!("search {DOMAIN}\n").as_bytes());
    let mut c = command();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(lab.base_args(&lab.path("ca.pem")))
        .arg("--resolv-conf")
        .arg(resolv)
        .arg("--no-exec");
    c
}

#[test]
fn preconf_askpass_answers_every_question() {
    let lab = three_domain_lab();
    let h = askpass(&lab, "ask", &["", LOGIN, PASSWORD]);
    let mut c = unattended(&lab);
    c.env("PRECONF_ASKPASS", &h);
    Run::of(c)
        .ok()
        .says("confirm: example.test confirmed")
        .says("password from PRECONF_ASKPASS");
    assert_eq!(
        read(&lab.path("asked")),
        "|Is your company domain example.test? [Y/n or type another] \n\
         |Login for cfg1.example.test: \n\
         |Password for jdoe at cfg1.example.test: \n"
    );
}

#[test]
fn zenity_on_path_is_used_with_its_own_flags() {
    let lab = three_domain_lab();
    // An off-domain server too, for a yes/no question.
    let h = askpass(&lab, "zenity", &["guard.test", "", LOGIN, PASSWORD]);
    let path = format!(
        "{}:{}",
        h.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = unattended(&lab);
    c.env("PATH", path);
    Run::of(c)
        .ok()
        .says("confirm: guard.test confirmed")
        .says("guard: cfg.elsewhere.test is outside guard.test; accepted");
    let asked = read(&lab.path("asked"));
    let lines: Vec<&str> = asked.lines().collect();
    assert_eq!(
        lines,
        [
            "|--title=preconf --entry --text=Is your company domain example.test? [Y/n or type another] ",
            "|--title=preconf --question --no-markup --text=The configuration server cfg.elsewhere.test is outside guard.test. Send your login to it?",
            "|--title=preconf --entry --text=Login for cfg.elsewhere.test: ",
            "|--title=preconf --entry --hide-text --text=Password for jdoe at cfg.elsewhere.test: ",
        ],
        "{asked}"
    );
}

#[test]
fn a_cancelled_question_ends_the_run_with_nothing_written() {
    let lab = three_domain_lab();
    let h = askpass(&lab, "ask", &["", LOGIN, "!1"]);
    let mut c = unattended(&lab);
    c.env("PRECONF_ASKPASS", &h);
    let run = Run::of(c);
    run.fails(
        77,
        "the question \"Password for jdoe at cfg1.example.test\" was cancelled in PRECONF_ASKPASS (",
    )
    .says("nothing was changed");
    assert!(!lab.root().exists(), "something was written");
    assert!(lab.servers[0].requests().is_empty(), "a request went out");
}

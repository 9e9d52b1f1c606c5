//! The person at the device: questions and answers on a real terminal.

use preconf_testlab::tty::Tty;
use preconf_testlab::*;

fn lab() -> Lab {
    three_domain_lab()
}

fn argv(lab: &Lab, extra: &[&str]) -> Vec<String> {
    let mut a = argv0();
    a.push("--no-exec".into());
    a.extend(lab.base_args(&lab.path("ca.pem")));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn resolv(lab: &Lab, domain: &str) -> String {
    lab.file("resolv.conf", format!("search {domain}\n").as_bytes())
        .display()
        .to_string()
}

/// preconf asking about the domain example.test, learned from resolv.conf.
fn learning(lab: &Lab) -> Tty {
    let resolv = resolv(lab, DOMAIN);
    Tty::spawn(
        &argv(lab, &["--user", LOGIN, "--resolv-conf", &resolv]),
        &[("PRECONF_PASSWORD", PASSWORD)],
    )
}

#[test]
fn enter_accepts_the_learned_domain() {
    let lab = lab();
    let mut t = learning(&lab);
    t.expect("Is your company domain example.test? [Y/n or type another] ");
    t.type_line("");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("confirm: example.test confirmed"),
        "{screen}"
    );
}

#[test]
fn typing_another_domain_uses_it() {
    let lab = lab();
    let mut t = learning(&lab);
    t.expect("[Y/n or type another] ");
    t.type_line("not a domain");
    t.expect("'not a domain' is not a domain name");
    t.type_line("Other.Test");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("confirm: other.test confirmed"), "{screen}");
    assert!(
        screen.contains("bundle from https://cfg.other.test:"),
        "{screen}"
    );
}

#[test]
fn login_and_hidden_password_with_one_retry() {
    let lab = lab();
    let mut t = Tty::spawn(&argv(&lab, &["--domain", DOMAIN]), &[]);
    t.expect("Login for cfg1.example.test: ");
    t.type_line(LOGIN);
    t.expect("Password for jdoe at cfg1.example.test: ");
    t.type_secret("typo-secret");
    t.expect("refused the login jdoe; try again");
    t.expect("Login for cfg1.example.test: ");
    t.type_line(LOGIN);
    t.expect_nth("Password for jdoe at cfg1.example.test: ", 2);
    t.type_secret(PASSWORD);
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        !screen.contains("typo-secret") && !screen.contains(PASSWORD),
        "a password was echoed:\n{screen}"
    );
    assert!(screen.contains("password from the terminal"), "{screen}");
}

#[test]
fn off_domain_server_declined_then_accepted() {
    let lab = lab();
    let run = |answer: &str| {
        let mut t = Tty::spawn(
            &argv(
                &lab,
                &["--user", LOGIN, "--domain", "guard.test", "--force"],
            ),
            &[("PRECONF_PASSWORD", PASSWORD)],
        );
        t.expect("The configuration server cfg.elsewhere.test is outside guard.test. Send your login to it? [y/N] ");
        t.type_line(answer);
        t.finish()
    };
    let (code, screen) = run("");
    assert_eq!(code, Some(77), "{screen}");
    assert!(screen.contains("no server left to try"), "{screen}");
    assert!(
        lab.servers[2].requests().is_empty(),
        "credentials went to a declined server"
    );
    let (code, screen) = run("y");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("guard: cfg.elsewhere.test is outside guard.test; accepted"),
        "{screen}"
    );
}

//! The login goes only to the origin that accepted it: a redirect to
//! another origin never carries it, and neither does anything after.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use preconf_testlab::*;

/// cfg1 checks the login and redirects the bundle to cfg2, another origin
/// (its own port), whose bundle names its package relatively: on cfg2.
/// `cfg2` replaces routes of cfg2's standard ones.
fn redirected(cfg2: &[(&str, Reply)]) -> Lab {
    let mut lab = Lab::new();
    let mut routes = standard_routes(&lab).routes;
    for (path, reply) in cfg2 {
        routes.insert(path.to_string(), reply.clone());
    }
    let cfg2 = lab.serve_with("cfg2.example.test", routes, false, None);
    let cfg1 = lab.serve(
        "cfg1.example.test",
        HashMap::from([(
            "/bundle".to_string(),
            Reply::Redirect(302, format!("https://cfg2.example.test:{cfg2}/bundle")),
        )]),
    );
    lab.start_dns(
        zone_for(&[("cfg1.example.test", 10, 1, cfg1)]).a("cfg2.example.test", Ipv4Addr::LOCALHOST),
    );
    lab
}

fn run(lab: &Lab) -> Run {
    let mut c = lab.preconf();
    c.args(["--domain", DOMAIN, "--no-exec"]);
    Run::of(c)
}

/// cfg1 saw the login once; cfg2, the other origin, never saw it.
#[track_caller]
fn login_stayed_with_cfg1(lab: &Lab, cfg2_paths: &[&str]) {
    let (cfg2, cfg1) = (lab.servers[0].requests(), lab.servers[1].requests());
    assert_eq!(cfg1.len(), 1, "{cfg1:?}");
    assert!(cfg1[0].headers.contains_key("authorization"));
    let paths: Vec<&str> = cfg2.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, cfg2_paths);
    for r in &cfg2 {
        assert!(
            !r.headers.contains_key("authorization"),
            "the login went to cfg2 with {}",
            r.path
        );
    }
}

#[test]
fn a_relative_package_on_the_redirect_target_is_fetched_without_the_login() {
    let lab = redirected(&[]);
    run(&lab)
        .ok()
        .says("bundle from https://cfg2.example.test:")
        .says("/pkgs/corp.sh (");
    login_stayed_with_cfg1(&lab, &["/bundle", "/pkgs/corp.sh"]);
    assert!(lab.root().join("usr/bin/corp-configurator").is_file());
}

#[test]
fn a_redirect_target_that_wants_the_login_for_the_package_is_told_no() {
    let lab = redirected(&[("/pkgs/corp.sh", Reply::Status(401))]);
    run(&lab).fails(
        77,
        "answered 401; the login goes only to the server that accepted it",
    );
    login_stayed_with_cfg1(&lab, &["/bundle", "/pkgs/corp.sh"]);
    assert!(!lab.root().join("usr/bin/corp-configurator").exists());
    assert!(!lab.state().join("receipt.json").exists());
}

#[test]
fn a_redirect_target_that_wants_the_login_for_the_bundle_is_told_no() {
    let lab = redirected(&[("/bundle", Reply::Status(401))]);
    run(&lab).fails(77, "cfg1.example.test redirected the bundle request to");
    login_stayed_with_cfg1(&lab, &["/bundle"]);
}

#[test]
fn a_package_on_another_origin_that_wants_a_login_is_told_no() {
    let mut lab = Lab::new();
    let s = standard_routes(&lab);
    let cdn = lab.serve_with(
        "cdn.example.test",
        HashMap::from([("/corp.sh".to_string(), Reply::Status(401))]),
        false,
        None,
    );
    let mut pkg = exec_pkg(&s.script);
    let url = format!("https://cdn.example.test:{cdn}/corp.sh");
    pkg.url = &url;
    let bundle = bundle_json(&[pkg], &["/usr/bin/corp-configurator"], &[]);
    let cfg1 = lab.serve(
        "cfg1.example.test",
        HashMap::from([("/bundle".to_string(), Reply::Body(bundle.into_bytes()))]),
    );
    lab.start_dns(
        zone_for(&[("cfg1.example.test", 10, 1, cfg1)]).a("cdn.example.test", Ipv4Addr::LOCALHOST),
    );
    run(&lab).fails(
        77,
        "answered 401; the login goes only to the server that accepted it",
    );
    let cdn_log = lab.servers[0].requests();
    assert_eq!(cdn_log.len(), 1);
    assert!(!cdn_log[0].headers.contains_key("authorization"));
}

//! The desktop registration in dist/: preconf handles provisioning links
//! (application/x-maemo-autoconfiguration), checked with the real
//! freedesktop tools in a temporary XDG tree.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use preconf_testlab::desktop::{self, ENTRY, MIME_TYPE, XdgEnv};
use preconf_testlab::*;

#[test]
fn desktop_entry_passes_desktop_file_validate() {
    let run = Run::of({
        let mut c = Command::new("desktop-file-validate");
        c.arg(dist(ENTRY));
        c
    });
    // Errors, warnings and hints alike are printed; a clean entry gets none.
    assert_eq!(
        run.code,
        Some(0),
        "desktop-file-validate:\n{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.stdout + &run.stderr, "");
}

#[test]
fn link_documents_get_the_type_and_preconf_as_their_default() {
    let dir = temp_dir();
    let env = desktop::install(dir.path(), "preconf open %u");
    let doc = write_doc(dir.path(), "link.maemo-autoconf");
    // The same JSON under another name: the type comes from the glob.
    let json = write_doc(dir.path(), "link.json");

    assert_eq!(filetype(&env, &doc), MIME_TYPE);
    assert_ne!(filetype(&env, &json), MIME_TYPE);
    let default = env.run("xdg-mime", &["query", "default", MIME_TYPE]);
    assert_eq!(default.stdout.trim(), ENTRY);
}

/// xdg-open, in its generic mode (no desktop environment; DISPLAY set but
/// no X server is ever contacted), finds the entry and runs its Exec line
/// itself, in the foreground: `%u` becomes a plain path, also for a file://
/// URL, which it percent-decodes.
#[test]
fn xdg_open_starts_the_entry_with_the_document_path() {
    let dir = temp_dir();
    let record = recorder(dir.path());
    let env = desktop::install(dir.path(), &format!("{} open %u", record.display()));
    let doc = write_doc(dir.path(), "link.maemo-autoconf");
    let spaced = write_doc(dir.path(), "my link.maemo-autoconf");
    let spaced_url = format!("file://{}", spaced.display()).replace(' ', "%20");

    let args = dir.path().join("args.txt");
    for (arg, expected) in [(path_str(&doc), &doc), (spaced_url, &spaced)] {
        let _ = std::fs::remove_file(&args);
        let mut c = env.command("xdg-open");
        // Without a display, xdg-open skips the desktop entries altogether
        // and tries mailcap and text-mode browsers.
        c.env("DISPLAY", ":0").arg(&arg);
        Run::of(c).ok();
        let got = read(&args);
        assert_eq!(got, format!("open\n{}\n", expected.display()), "{arg}");
    }
}

/// A script standing in for preconf that writes its arguments, one a line,
/// to args.txt beside it.
fn recorder(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("record");
    let out = dir.join("args.txt");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A link document, as a browser would save it.
fn write_doc(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join("docs").join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"{}\n").unwrap();
    p
}

fn filetype(env: &XdgEnv, file: &Path) -> String {
    let run = env.run("xdg-mime", &["query", "filetype", &path_str(file)]);
    run.stdout.trim().to_string()
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("a UTF-8 temporary path").to_string()
}

//! The desktop registration of dist/ (the MIME type and the desktop entry),
//! installed into a temporary XDG tree with the real freedesktop tools, so
//! xdg-mime and xdg-open can be asked about it without reading or changing
//! the machine's own desktop configuration.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Run, dist};

/// The desktop entry's file name: what `xdg-mime query default` answers.
pub const ENTRY: &str = "preconf-open.desktop";

/// The MIME type `preconf open` handles.
pub const MIME_TYPE: &str = "application/x-maemo-autoconfiguration";

/// A temporary XDG tree holding the registration, and the environment
/// that points the freedesktop tools at it alone.
pub struct XdgEnv {
    /// XDG_DATA_HOME: mime/ and applications/ live here.
    pub data_home: PathBuf,
    vars: Vec<(&'static str, OsString)>,
}

impl XdgEnv {
    /// The variables to pass, besides PATH: every XDG directory, HOME and
    /// the desktop in the temporary tree.
    pub fn vars(&self) -> &[(&'static str, OsString)] {
        &self.vars
    }

    /// `program` with only PATH and these variables in its environment.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// Runs `program args…` in this environment; fails the test, with its
    /// output, unless it succeeds.
    #[track_caller]
    pub fn run(&self, program: &str, args: &[&str]) -> Run {
        let mut c = self.command(program);
        c.args(args);
        let run = Run::of(c);
        assert_eq!(
            run.code,
            Some(0),
            "{program} {args:?} failed\n--- stderr:\n{}\n--- stdout:\n{}",
            run.stderr,
            run.stdout
        );
        run
    }
}

/// Installs dist/'s MIME type and desktop entry under `dir` as a package
/// would under /usr/share (then `update-mime-database` and
/// `update-desktop-database`, as dpkg's triggers run them), with the
/// entry's `Exec=` replaced by `exec_line`, so a test can have the entry
/// start a script of its own. xdg-open splits `exec_line` at spaces and
/// knows no quoting: keep paths in it free of spaces.
pub fn install(dir: &Path, exec_line: &str) -> XdgEnv {
    let env = xdg_env(dir);
    let mime = env.data_home.join("mime");
    let apps = env.data_home.join("applications");
    std::fs::create_dir_all(mime.join("packages")).unwrap();
    std::fs::create_dir_all(&apps).unwrap();

    std::fs::copy(dist("preconf.xml"), mime.join("packages/preconf.xml")).unwrap();
    quiet(env.run("update-mime-database", &[&path_str(&mime)]));

    let entry = entry_with_exec(&crate::read(&dist(ENTRY)), exec_line);
    std::fs::write(apps.join(ENTRY), entry).unwrap();
    quiet(env.run("update-desktop-database", &[&path_str(&apps)]));
    env
}

/// The directories of a fresh XDG tree under `dir`, all created.
fn xdg_env(dir: &Path) -> XdgEnv {
    let sub = |name: &str| {
        let p = dir.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let data_home = sub("data");
    let vars = vec![
        ("HOME", sub("home").into()),
        ("XDG_DATA_HOME", data_home.clone().into()),
        // Empty: the machine's /usr/share is never searched.
        ("XDG_DATA_DIRS", sub("data-dirs").into()),
        ("XDG_CONFIG_HOME", sub("config").into()),
        ("XDG_CONFIG_DIRS", sub("config-dirs").into()),
        ("XDG_CACHE_HOME", sub("cache").into()),
        // xdg-utils' generic mode, whatever desktop the machine runs, and
        // no probing of D-Bus or X for one.
        ("XDG_CURRENT_DESKTOP", "X-Generic".into()),
    ];
    XdgEnv { data_home, vars }
}

/// The desktop entry with its `Exec=` line replaced.
pub fn entry_with_exec(entry: &str, exec_line: &str) -> String {
    assert!(
        entry.lines().any(|l| l.starts_with("Exec=")),
        "no Exec= line in:\n{entry}"
    );
    entry
        .lines()
        .map(|l| {
            if l.starts_with("Exec=") {
                format!("Exec={exec_line}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// The update tools print nothing when all is well; a warning about the
/// XML or the entry fails the test.
#[track_caller]
fn quiet(run: Run) {
    assert!(
        run.stdout.trim().is_empty() && run.stderr.trim().is_empty(),
        "unexpected output:\n{}{}",
        run.stdout,
        run.stderr
    );
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("a UTF-8 temporary path").to_string()
}

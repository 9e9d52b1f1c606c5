//! Driving `preconf` on a real terminal: util-linux `script` gives it a
//! pseudo-terminal, and we answer each prompt once it has appeared, as a
//! person would (typing ahead would be echoed before echo is turned off).

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Tty {
    child: Child,
    stdin: Option<ChildStdin>,
    screen: Arc<Mutex<String>>,
}

impl Tty {
    /// Runs `argv` with `env` (and PATH) on a new pseudo-terminal.
    pub fn spawn(argv: &[String], env: &[(&str, &str)]) -> Tty {
        let line: Vec<String> = argv
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let mut child = Command::new("script")
            .args(["-qefc", &line.join(" "), "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux 'script' is needed for terminal tests");
        let mut out = child.stdout.take().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let s = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        Tty {
            child,
            stdin,
            screen,
        }
    }

    /// Waits until `needle` has appeared `nth` times (1 = first) on the screen.
    #[track_caller]
    pub fn expect_nth(&self, needle: &str, nth: usize) {
        let t0 = Instant::now();
        while self.screen().matches(needle).count() < nth {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "never saw {needle:?} (#{nth}) on the terminal:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    pub fn expect(&self, needle: &str) {
        self.expect_nth(needle, 1);
    }

    /// Types an answer to a password prompt. The prompt shows a moment
    /// before the program turns echo off (it writes the prompt, then sets
    /// the terminal); a person never types that fast, but a test can, and
    /// under an emulator the moment is long: wait it out.
    pub fn type_secret(&mut self, text: &str) {
        std::thread::sleep(Duration::from_millis(300));
        self.type_line(text);
    }

    pub fn type_line(&mut self, text: &str) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(format!("{text}\n").as_bytes()).unwrap();
        s.flush().unwrap();
    }

    pub fn screen(&self) -> String {
        self.screen.lock().unwrap().replace('\r', "")
    }

    /// Closes the keyboard and waits for the exit code.
    pub fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        // Let the reader thread drain the last output.
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.screen())
    }
}

//! One progress event as the log server receives it: a JSON object on one
//! line, written here once and never parsed back into fields (the kept
//! file holds the same lines).

use crate::clock;
use crate::error::Step;
use crate::json;

/// A message is one of our own sentences, but it may quote a URL from a
/// bundle: cut it here so no event, and no kept file, grows without bound.
const MAX_MESSAGE: usize = 1024;

/// What happened, named as RFC 8572's progress types are, in our words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    RunStarted,
    /// The server, reference or link to provision from is known.
    DiscoveryComplete,
    BundleReceived,
    DownloadComplete,
    /// A package did not match the size or SHA-256 its bundle declares.
    VerifyFailed,
    InstallComplete,
    Handoff,
    /// The run ended with this exit code.
    RunFailed(i32),
    /// A step line (`prm.remote.debug`).
    Debug(Step),
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::RunStarted => "run-started",
            Event::DiscoveryComplete => "discovery-complete",
            Event::BundleReceived => "bundle-received",
            Event::DownloadComplete => "download-complete",
            Event::VerifyFailed => "verify-failed",
            Event::InstallComplete => "install-complete",
            Event::Handoff => "handoff",
            Event::RunFailed(_) => "run-failed",
            Event::Debug(_) => "debug",
        }
    }
}

/// The line for one event: `{"seq":3,"time":"…","event":"…","spid":…,
/// "message":"…"}`, with `"exit"` for run-failed and `"step"` for debug.
pub(crate) fn line(
    seq: u64,
    unix_time: i64,
    event: Event,
    spid: Option<&str>,
    message: &str,
) -> String {
    let spid = spid.map_or_else(|| "null".to_string(), json::quote);
    let mut line = format!(
        r#"{{"seq":{seq},"time":"{}","event":"{}","spid":{spid},"message":{}"#,
        clock::rfc3339(unix_time),
        event.name(),
        json::quote(cut(&without_queries(message))),
    );
    match event {
        Event::RunFailed(exit) => line.push_str(&format!(r#","exit":{exit}"#)),
        Event::Debug(step) => line.push_str(&format!(r#","step":"{}""#, step.name())),
        _ => {}
    }
    line.push('}');
    line
}

/// `text` with the query and fragment of every URL in it cut to `?…`:
/// one-time tokens and signed-URL signatures ride there, and they were
/// meant for their server, not for the log's. Linear in the text.
fn without_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let end = rest
            .find(|c: char| c.is_whitespace() || "\"'<>".contains(c))
            .unwrap_or(rest.len());
        // Punctuation that ends a sentence is not part of the URL.
        let url = rest[..end].trim_end_matches(['.', ',', ';', ':', ')']);
        match url.find(['?', '#']) {
            Some(q) => {
                out.push_str(&url[..q]);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        rest = &rest[url.len()..];
    }
    out.push_str(rest);
    out
}

/// `message` cut to [`MAX_MESSAGE`] bytes, at a character boundary.
fn cut(message: &str) -> &str {
    let mut end = message.len().min(MAX_MESSAGE);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_json_object_on_one_line() {
        let l = line(
            3,
            0,
            Event::BundleReceived,
            Some("D-1"),
            "bundle from https://x/b",
        );
        assert_eq!(
            l,
            r#"{"seq":3,"time":"1970-01-01T00:00:00Z","event":"bundle-received","spid":"D-1","message":"bundle from https://x/b"}"#
        );
        let l = line(4, 0, Event::RunFailed(75), None, "fetch: no server");
        assert!(
            l.ends_with(r#""spid":null,"message":"fetch: no server","exit":75}"#),
            "{l}"
        );
        let l = line(5, 0, Event::Debug(Step::Fetch), None, "x");
        assert!(
            l.ends_with(r#""event":"debug","spid":null,"message":"x","step":"fetch"}"#),
            "{l}"
        );
    }

    #[test]
    fn messages_and_ids_are_escaped() {
        let tricky = "say \"hi\"\\ \n\r\t\u{1b}[31m é \u{7f}";
        let l = line(1, 0, Event::Handoff, Some("a\"b\n"), tricky);
        assert!(
            !l.contains('\n') && !l.contains('\r') && !l.contains('\u{1b}'),
            "{l}"
        );
        let doc = json::parse(l.as_bytes()).expect("valid JSON");
        assert_eq!(doc.get("message").and_then(|m| m.as_str()), Some(tricky));
        assert_eq!(doc.get("spid").and_then(|m| m.as_str()), Some("a\"b\n"));
    }

    #[test]
    fn long_messages_are_cut_at_a_character() {
        let long = "é".repeat(MAX_MESSAGE);
        let l = line(1, 0, Event::RunStarted, None, &long);
        let doc = json::parse(l.as_bytes()).expect("valid JSON");
        let kept = doc.get("message").and_then(|m| m.as_str()).unwrap();
        assert_eq!(kept.len(), MAX_MESSAGE);
        assert!(long.starts_with(kept));
    }

    #[test]
    fn queries_never_reach_the_log() {
        assert_eq!(
            without_queries(
                "bundle from https://cfg.example.com/b?access_token=SEKRIT; ask (https://x/y#frag)."
            ),
            "bundle from https://cfg.example.com/b?…; ask (https://x/y?…)."
        );
        assert_eq!(without_queries("no url here: a?b"), "no url here: a?b");
        assert_eq!(without_queries("https://h/p?q"), "https://h/p?…");
        let long = "https://a/?".repeat(1000);
        assert!(without_queries(&long).len() < long.len());
    }
}

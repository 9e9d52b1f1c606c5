//! A strict, bounded JSON reader: RFC 8259 exactly, into a tree of values.
//!
//! It reads every JSON document preconf takes in: link documents, bundles,
//! the receipt and the storage.
//!
//! Written by hand, not taken from a crate: nanoserde 0.2.1, which read the
//! bundle and the receipt before it, panics on some malformed input (`unimplemented!` in
//! `whole_field` when an unknown field's value starts with `,` `:` `]` `}`
//! or is cut off, as in `{"zzz": }`) and loops forever on other input
//! (`{"format":1,"configuratator":{{`); the well-known alternatives are large
//! (serde_json) or recurse without a bound on depth; and callers need errors
//! that name the field, which they can write when they walk a tree.
//!
//! Documents come from the network, so reading one takes bounded time and
//! memory: the caller bounds the size, nesting stops at [`MAX_DEPTH`] (so
//! the stack is bounded too), the bytes are read once without backtracking,
//! and duplicate keys are found by sorting, not by comparing every pair.
//!
//! Strict: no comments, trailing commas, `NaN`, leading zeros or other
//! extensions; a string is valid UTF-8 without raw control characters and
//! with paired surrogates; a byte order mark is refused (RFC 8259 §8.1: a
//! sender must not add one); and a key given twice in one object is an
//! error, since two parsers could disagree on which one wins.

use std::fmt;

/// How deep arrays and objects may nest (the bundle needs 4). The error
/// message below says the number too.
const MAX_DEPTH: usize = 32;
const TOO_DEEP: &str = "arrays and objects nested deeper than 32";

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The literal as written, checked against RFC 8259's grammar; converted
    /// only when asked ([`Json::as_u64`]), so nothing is rounded on the way.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; no key appears twice.
    Object(Vec<(String, Json)>),
}

/// Why a document was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// Bytes from the start of the document.
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

/// Reads one JSON value, with nothing but whitespace after it.
pub(crate) fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(JsonError {
            offset: 0,
            what: "a byte order mark, which JSON must not start with",
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError {
        offset: e.valid_up_to(),
        what: "invalid UTF-8",
    })?;
    let mut p = Parser { text, pos: 0 };
    let value = p.value(0)?;
    p.skip_whitespace();
    if p.pos < text.len() {
        return Err(p.error("more text after the value"));
    }
    Ok(value)
}

/// `s` as a JSON string, quotes included: what a writer of our own
/// documents (the receipt, the storage) needs, and all it needs.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Json {
    /// The member named `key`, if this is an object that has one.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        let members = self.as_object()?;
        members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// A number written as a plain integer that fits in a u64: `5`, not
    /// `5.0`, `5e0` or `-0`. Sizes and versions are counted, not measured.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            // Only digits: the grammar already ruled out leading zeros.
            Json::Number(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// What this is, for messages: "must be a string, not an array".
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Recursive descent over valid UTF-8; `pos` is a byte offset and always
/// on a character boundary between tokens.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// An error here; at the end of the input, saying so, since "expected
    /// ':'" would hide that the document was cut off.
    fn error(&self, what: &'static str) -> JsonError {
        let what = if self.pos < self.text.len() {
            what
        } else {
            "unexpected end of input"
        };
        JsonError {
            offset: self.pos,
            what,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Takes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Takes `byte` if it comes next after whitespace.
    fn eat_token(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        self.eat(byte)
    }

    /// A value, inside `depth` arrays and objects.
    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            _ => Err(self.error("expected a value")),
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json, JsonError> {
        if !self.text.as_bytes()[self.pos..].starts_with(word.as_bytes()) {
            return Err(self.error("expected a value"));
        }
        self.pos += word.len();
        Ok(value)
    }

    /// Steps over the `[` or `{` of a container at `depth`, if allowed.
    fn open(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(TOO_DEEP));
        }
        self.pos += 1;
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.open(depth)?;
        let mut items = Vec::new();
        if self.eat_token(b']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            if self.eat_token(b']') {
                return Ok(Json::Array(items));
            }
            if !self.eat_token(b',') {
                return Err(self.error("expected ',' or ']'"));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.open(depth)?;
        let mut members = Vec::new();
        // Where each key starts, to point at a duplicate.
        let mut key_offsets = Vec::new();
        if self.eat_token(b'}') {
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            key_offsets.push(self.pos);
            let key = self.string()?;
            if !self.eat_token(b':') {
                return Err(self.error("expected ':'"));
            }
            members.push((key, self.value(depth)?));
            if self.eat_token(b'}') {
                break;
            }
            if !self.eat_token(b',') {
                return Err(self.error("expected ',' or '}'"));
            }
        }
        unique_keys(&members, &key_offsets)?;
        Ok(Json::Object(members))
    }

    /// A string; `pos` is at its opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Plain characters are copied a run at a time. The run stops
            // only at ASCII bytes, so its ends are character boundaries.
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                _ => return Err(self.error("control character in a string")),
            }
        }
    }

    /// An escape; `pos` is at its backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let at = self.pos;
        self.pos += 1;
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(at),
            _ => return Err(self.error("invalid escape")),
        };
        self.pos += 1;
        Ok(c)
    }

    /// `\uXXXX`, and for a high surrogate the `\uXXXX` of its low half;
    /// `pos` is at the first `u`, `at` at the backslash before it.
    fn unicode_escape(&mut self, at: usize) -> Result<char, JsonError> {
        let unpaired = JsonError {
            offset: at,
            what: "unpaired surrogate in a \\u escape",
        };
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                if !self.eat(b'\\') || self.peek() != Some(b'u') {
                    return Err(unpaired);
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(unpaired);
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            _ => high,
        };
        // None only for a low surrogate on its own.
        char::from_u32(code).ok_or(unpaired)
    }

    /// `u` and four hex digits; `pos` is at the `u`.
    fn hex4(&mut self) -> Result<u32, JsonError> {
        self.pos += 1;
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.error("expected 4 hex digits after \\u"))?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        self.eat(b'-');
        if self.eat(b'0') {
            if let Some(b'0'..=b'9') = self.peek() {
                return Err(self.error("leading zero in a number"));
            }
        } else {
            self.digits()?;
        }
        if self.eat(b'.') {
            self.digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            self.digits()?;
        }
        Ok(Json::Number(self.text[start..self.pos].to_string()))
    }

    /// One digit or more.
    fn digits(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a digit in a number"));
        }
        Ok(())
    }
}

/// Refuses a key given twice in one object, pointing at its first repeat.
/// Sorting keeps an object of many keys O(n log n); comparing each key
/// with those before it would be quadratic.
fn unique_keys(members: &[(String, Json)], offsets: &[usize]) -> Result<(), JsonError> {
    let mut keys: Vec<(&str, usize)> = members
        .iter()
        .map(|(k, _)| k.as_str())
        .zip(offsets.iter().copied())
        .collect();
    // Equal keys end up side by side, in document order.
    keys.sort_unstable();
    let repeat = keys
        .windows(2)
        .filter(|pair| pair[0].0 == pair[1].0)
        .map(|pair| pair[1].1)
        .min();
    match repeat {
        Some(offset) => Err(JsonError {
            offset,
            what: "duplicate key",
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &[u8]) -> JsonError {
        match parse(text) {
            Ok(v) => panic!("{:?} was accepted as {v:?}", String::from_utf8_lossy(text)),
            Err(e) => e,
        }
    }

    /// Refused with `what` at `offset`.
    fn refused(text: &[u8], what: &str, offset: usize) {
        let e = err(text);
        let shown = String::from_utf8_lossy(text);
        assert_eq!((e.what, e.offset), (what, offset), "{shown:?}");
    }

    fn num(n: &str) -> Json {
        Json::Number(n.into())
    }

    fn s(text: &str) -> Json {
        Json::String(text.into())
    }

    #[test]
    fn nested_document() {
        let v = ok(
            r#" { "format": 1, "user": {"name": "Jane", "tags": [true, false, null, [], {}]},
            "list": [1, -2.5, "x", {"a": [[]]}] } "#,
        );
        assert_eq!(v.get("format").and_then(Json::as_u64), Some(1));
        let user = v.get("user").unwrap();
        assert_eq!(user.get("name").and_then(Json::as_str), Some("Jane"));
        let tags = user.get("tags").and_then(Json::as_array).unwrap();
        assert_eq!(
            tags,
            [
                Json::Bool(true),
                Json::Bool(false),
                Json::Null,
                Json::Array(vec![]),
                Json::Object(vec![])
            ]
        );
        assert_eq!(tags[0].as_bool(), Some(true));
        let list = v.get("list").and_then(Json::as_array).unwrap();
        assert_eq!(list[1], num("-2.5"));
        let inner = list[3].as_object().unwrap();
        assert_eq!(inner[0].0, "a");
        assert_eq!(v.get("missing"), None);
        assert_eq!(list[0].get("format"), None);
        let keys: Vec<&str> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["format", "user", "list"]);
    }

    #[test]
    fn scalars_at_the_top_and_whitespace() {
        assert_eq!(ok("null"), Json::Null);
        assert_eq!(ok(" \t\r\ntrue \n"), Json::Bool(true));
        assert_eq!(ok("\"\""), s(""));
        assert_eq!(ok("0"), num("0"));
        assert_eq!(ok("[ 1 , 2 ]"), Json::Array(vec![num("1"), num("2")]));
        assert_eq!(
            ok("{ \"a\" :\n1 }"),
            Json::Object(vec![("a".into(), num("1"))])
        );
    }

    #[test]
    fn escapes_and_unicode() {
        assert_eq!(ok(r#""\"\\\/\b\f\n\r\t""#), s("\"\\/\u{8}\u{c}\n\r\t"));
        assert_eq!(ok(r#""\u0041\u00e9\u00E9\u20AC\u0000""#), s("Aéé€\0"));
        // A surrogate pair, in either case: U+1F600.
        assert_eq!(ok(r#""\uD83D\uDE00 \ud83d\ude00""#), s("😀 😀"));
        assert_eq!(ok(r#""\uDBFF\uDFFF""#), s("\u{10FFFF}"));
        // Raw UTF-8 passes as it is, and DEL is not a control character.
        assert_eq!(ok("\"é€😀\u{7f}\""), s("é€😀\u{7f}"));
        assert_eq!(ok(r#"{"\u006b": "a\u0022b"}"#).get("k"), Some(&s("a\"b")));
    }

    #[test]
    fn numbers_of_every_form() {
        for n in [
            "0",
            "-0",
            "7",
            "-7",
            "10",
            "1234567890",
            "0.5",
            "-0.5",
            "10.25",
            "1e5",
            "1E5",
            "1e+5",
            "1e-5",
            "1E-05",
            "0e0",
            "-0.0e-0",
            "2.5E+10",
            "1.0e-10",
            "123456789012345678901234567890",
        ] {
            assert_eq!(ok(n), num(n), "{n}");
            assert_eq!(ok(&format!("[{n}]")), Json::Array(vec![num(n)]), "{n}");
        }
    }

    #[test]
    fn as_u64_takes_plain_integers_that_fit() {
        let u = |n: &str| num(n).as_u64();
        assert_eq!(u("0"), Some(0));
        assert_eq!(u("42"), Some(42));
        assert_eq!(u("18446744073709551615"), Some(u64::MAX));
        for n in ["18446744073709551616", "1.0", "1e2", "-1", "-0", "0.0"] {
            assert_eq!(u(n), None, "{n}");
        }
        assert_eq!(s("5").as_u64(), None);
    }

    #[test]
    fn kinds_and_wrong_accessors() {
        let v = ok(r#"[null, true, 1, "s", [], {}]"#);
        let kinds: Vec<&str> = v.as_array().unwrap().iter().map(Json::kind).collect();
        assert_eq!(
            kinds,
            [
                "null",
                "a boolean",
                "a number",
                "a string",
                "an array",
                "an object"
            ]
        );
        assert_eq!(Json::Null.as_str(), None);
        assert_eq!(s("true").as_bool(), None);
        assert_eq!(s("x").as_array(), None);
        assert_eq!(Json::Array(vec![]).as_object(), None);
    }

    #[test]
    fn error_message() {
        let e = err(br#"{"zzz": }"#);
        assert_eq!(e.to_string(), "expected a value at byte 8");
    }

    #[test]
    fn what_nanoserde_fails_on() {
        // It panics on these...
        refused(br#"{"zzz": }"#, "expected a value", 8);
        for (text, at) in [(r#"{"zzz":,"#, 7), (r#"{"zzz":]"#, 7), (r#"{"zzz"::"#, 7)] {
            refused(text.as_bytes(), "expected a value", at);
        }
        refused(br#"{"zzz":"#, "unexpected end of input", 7);
        // ...and loops forever on this.
        refused(
            br#"{"format":1,"configuratator":{{"#,
            "expected a string key",
            30,
        );
    }

    #[test]
    fn structure_errors() {
        refused(br#"{"a":1}x"#, "more text after the value", 7);
        refused(b"1 2", "more text after the value", 2);
        refused(b"", "unexpected end of input", 0);
        refused(b"  \n", "unexpected end of input", 3);
        refused(b"[1,]", "expected a value", 3);
        refused(br#"{"a":1,}"#, "expected a string key", 7);
        refused(b"[1 2]", "expected ',' or ']'", 3);
        refused(br#"{"a":1 "b":2}"#, "expected ',' or '}'", 7);
        refused(br#"{"a" 1}"#, "expected ':'", 5);
        refused(b"{a:1}", "expected a string key", 1);
        refused(b"{'a':1}", "expected a string key", 1);
        refused(b"['a']", "expected a value", 1);
        refused(b"[1", "unexpected end of input", 2);
        refused(br#"{"a":1"#, "unexpected end of input", 6);
        refused(b"[1 /* no */]", "expected ',' or ']'", 3);
        refused(b"// no\n1", "expected a value", 0);
        refused(b"[1]]", "more text after the value", 3);
        // Only JSON's four whitespace characters: not form feed, not NBSP.
        refused(b"\x0c1", "expected a value", 0);
        refused("\u{a0}1".as_bytes(), "expected a value", 0);
    }

    #[test]
    fn literal_errors() {
        for text in [
            "tru",
            "True",
            "nul",
            "NULL",
            "fals",
            "NaN",
            "Infinity",
            "-Infinity",
            "undefined",
        ] {
            let e = err(text.as_bytes());
            assert!(
                ["expected a value", "expected a digit in a number"].contains(&e.what),
                "{text}: {e}"
            );
        }
        refused(b"[truex]", "expected ',' or ']'", 5);
    }

    #[test]
    fn bad_numbers() {
        for (text, what, at) in [
            ("01", "leading zero in a number", 1),
            ("-01", "leading zero in a number", 2),
            ("00", "leading zero in a number", 1),
            ("[1.]", "expected a digit in a number", 3),
            ("1.", "unexpected end of input", 2),
            (".5", "expected a value", 0),
            ("-", "unexpected end of input", 1),
            ("[-]", "expected a digit in a number", 2),
            ("-a", "expected a digit in a number", 1),
            ("--1", "expected a digit in a number", 1),
            ("-.5", "expected a digit in a number", 1),
            ("1e", "unexpected end of input", 2),
            ("[1e]", "expected a digit in a number", 3),
            ("[1e+]", "expected a digit in a number", 4),
            ("1.e5", "expected a digit in a number", 2),
            ("1ee5", "expected a digit in a number", 2),
            ("+1", "expected a value", 0),
            ("0x10", "more text after the value", 1),
            ("1.5.5", "more text after the value", 3),
        ] {
            refused(text.as_bytes(), what, at);
        }
    }

    #[test]
    fn string_errors() {
        refused(b"\"a\x01b\"", "control character in a string", 2);
        refused(b"\"a\tb\"", "control character in a string", 2);
        refused(b"\"a\nb\"", "control character in a string", 2);
        refused(b"\"\x00\"", "control character in a string", 1);
        refused(b"\"abc", "unexpected end of input", 4);
        refused(b"\"abc\\", "unexpected end of input", 5);
        refused(br#""\x""#, "invalid escape", 2);
        refused(br#""\U0041""#, "invalid escape", 2);
        refused(br#""\'""#, "invalid escape", 2);
        refused(br#""\u12""#, "expected 4 hex digits after \\u", 5);
        refused(br#""\u12G4""#, "expected 4 hex digits after \\u", 5);
        refused(br#""\u-123""#, "expected 4 hex digits after \\u", 3);
    }

    #[test]
    fn lone_surrogates() {
        let what = "unpaired surrogate in a \\u escape";
        refused(br#""\uD800""#, what, 1);
        refused(br#""\uDC00""#, what, 1);
        refused(br#""\uDFFF\uD800""#, what, 1);
        refused(br#""a\uD83D\u0041""#, what, 2);
        refused(br#""\uD83Dx""#, what, 1);
        refused(br#""\uD83D\n""#, what, 1);
        refused(br#""\uD83D\uD83D""#, what, 1);
        refused(br#""\uD83D"#, what, 1);
        refused(br#""\uD83D\uDE""#, "expected 4 hex digits after \\u", 11);
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        refused(b"\"\xff\"", "invalid UTF-8", 1);
        refused(b"[\"ok\", \"\xc3\"]", "invalid UTF-8", 8);
        // A surrogate encoded in UTF-8, and an overlong '/'.
        refused(b"\"\xed\xa0\x80\"", "invalid UTF-8", 1);
        refused(b"\"\xc0\xaf\"", "invalid UTF-8", 1);
        refused(
            b"\xef\xbb\xbf{}",
            "a byte order mark, which JSON must not start with",
            0,
        );
    }

    #[test]
    fn duplicate_keys() {
        refused(br#"{"a":1,"a":2}"#, "duplicate key", 7);
        refused(br#"{"b":1,"a":1,"c":{},"a":2}"#, "duplicate key", 20);
        // The first repeat is named, whichever key sorts first.
        refused(br#"{"z":1,"a":1,"z":1,"a":1}"#, "duplicate key", 13);
        // Equal once unescaped.
        refused(br#"{"a":1,"\u0061":2}"#, "duplicate key", 7);
        // Only within one object.
        ok(r#"{"a":{"a":1},"b":{"a":2},"c":[{"a":3},{"a":4}]}"#);
    }

    #[test]
    fn many_keys_are_not_quadratic() {
        let members: Vec<String> = (0..50_000).map(|i| format!("\"k{i}\":{i}")).collect();
        let v = ok(&format!("{{{}}}", members.join(",")));
        assert_eq!(v.get("k49999").and_then(Json::as_u64), Some(49_999));
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        ok(&nested(MAX_DEPTH));
        refused(nested(MAX_DEPTH + 1).as_bytes(), TOO_DEEP, MAX_DEPTH);
        // Far too deep for the stack, had it recursed on.
        refused("[".repeat(100_000).as_bytes(), TOO_DEEP, MAX_DEPTH);
        refused(nested(100_000).as_bytes(), TOO_DEEP, MAX_DEPTH);
        let objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        refused(objects.as_bytes(), TOO_DEEP, 5 * MAX_DEPTH);
        let mixed = r#"[{"a":"#.repeat(MAX_DEPTH / 2);
        ok(&format!("{mixed}1{}", "}]".repeat(MAX_DEPTH / 2)));
    }
}

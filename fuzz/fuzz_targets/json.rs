//! The JSON reader (src/json.rs) against serde_json: what one accepts the
//! other must accept, reading the same values, except what ours refuses
//! by design (nesting deeper than 32, a key given twice). A panic, a hang
//! or unbounded memory is caught by libFuzzer itself.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = preconf::fuzz::json(data);
    let theirs = serde_json::from_slice::<serde_json::Value>(data).map(|v| v.to_string());
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs),
        (Ok(ours), Err(e)) => panic!("accepted {ours:?}, which serde_json refuses ({e})"),
        (Err(e), Ok(_)) => assert!(
            e.starts_with("arrays and objects nested deeper") || e.starts_with("duplicate key"),
            "refused what serde_json accepts: {e}"
        ),
        (Err(_), Err(_)) => {}
    }
});

//! The provisioning dictionary's text readers (src/settings/text.rs), the
//! storage file (src/state/storage.rs), the receipt (src/state/receipt.rs)
//! and the media pattern matcher: no
//! panic, no hang, and what is accepted reads back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| preconf::fuzz::props(data));

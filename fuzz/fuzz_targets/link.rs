//! The link document (src/link.rs), as `preconf open` reads it from a file
//! or a server: no panic, no hang, and what it accepts keeps the promises
//! `open` relies on (https URL without a login, a header-safe token).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| preconf::fuzz::link(data));

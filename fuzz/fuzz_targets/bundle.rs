//! The bundle (src/bundle.rs), as a run reads it from the configuration
//! server: no panic, no hang, the same result each time, and what it
//! accepts keeps the promises the run relies on (properties as the
//! document gives them, under valid unique names).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| preconf::fuzz::bundle(data));

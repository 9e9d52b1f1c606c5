//! A request to the push endpoint of `preconf listen` (src/listen/), its
//! form and login, and a push password hash: no panic, no hang, every
//! bound kept, and what is accepted reads back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| preconf::fuzz::rminit(data));

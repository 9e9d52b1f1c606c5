//! The discovery datagrams (src/listen/discovery.rs): the probe reader,
//! the answer's encoding and the rate limiter: no panic, no hang, only the
//! one probe text accepted, every answer bounded and read back, and no more
//! answers than the limits allow.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| preconf::fuzz::probe(data));

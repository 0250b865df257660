//! The `time_varying` fuzz target: the oracles of `fuzz/oracles/time_varying.rs`,
//! which `cargo test` also runs (seed corpus and property tests).
#![no_main]

#[path = "../oracles/time_varying.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check(data));

//! The `saved_json` fuzz target: the oracles of `fuzz/oracles/saved_json.rs`, which
//! `cargo test` also runs (seed corpus and property tests).
#![no_main]

#[path = "../oracles/saved_json.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check(data));

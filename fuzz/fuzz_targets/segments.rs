//! The `segments` fuzz target: the oracles of `fuzz/oracles/segments.rs`, which
//! `cargo test` also runs (seed corpus and property tests).
#![no_main]

#[path = "../oracles/segments.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check(data));

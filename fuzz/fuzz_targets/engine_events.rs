//! The `engine_events` fuzz target: the oracles of `fuzz/oracles/engine_events.rs`, which
//! `cargo test` also runs (seed corpus and property tests).
#![no_main]

#[path = "../oracles/engine_events.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check(data));

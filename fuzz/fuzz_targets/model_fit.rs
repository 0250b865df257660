//! The `model_fit` fuzz target: the oracles of `fuzz/oracles/model_fit.rs`, which
//! `cargo test` also runs (seed corpus and property tests).
#![no_main]

#[path = "../oracles/model_fit.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check(data));

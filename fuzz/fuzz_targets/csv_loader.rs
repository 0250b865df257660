//! The `csv_loader` fuzz target: the oracles of `fuzz/oracles/csv_loader.rs`, which
//! `cargo test` also runs (seed corpus and property tests).
#![no_main]

#[path = "../oracles/csv_loader.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::check(data));

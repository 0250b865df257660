//! The fuzz targets' oracles on stable, in `cargo test`: every file of each
//! seed corpus (`fuzz/corpus/<target>/`, which holds the minimised inputs
//! of past findings) passes its oracle, and property tests feed each oracle
//! random inputs and random edits of its corpus. The oracles themselves are
//! `fuzz/oracles/<target>.rs`, shared with the libFuzzer targets, so a
//! fuzzer finding and a failing test are the same check.

use std::path::Path;

use proptest::prelude::*;

#[path = "../../fuzz/oracles/analytics.rs"]
mod analytics;
#[path = "../../fuzz/oracles/csv_loader.rs"]
mod csv_loader;
#[path = "../../fuzz/oracles/engine_events.rs"]
mod engine_events;
#[path = "../../fuzz/oracles/model_fit.rs"]
mod model_fit;
#[path = "../../fuzz/oracles/saved_json.rs"]
mod saved_json;
#[path = "../../fuzz/oracles/segments.rs"]
mod segments;
#[path = "../../fuzz/oracles/time_varying.rs"]
mod time_varying;
#[path = "../../fuzz/oracles/triggers.rs"]
mod triggers;

type Oracle = fn(&[u8]);

const TARGETS: [(&str, Oracle); 8] = [
    ("analytics", analytics::check),
    ("csv_loader", csv_loader::check),
    ("engine_events", engine_events::check),
    ("model_fit", model_fit::check),
    ("saved_json", saved_json::check),
    ("segments", segments::check),
    ("time_varying", time_varying::check),
    ("triggers", triggers::check),
];

/// The files of a target's seed corpus, in name order.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus entry").path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).expect("a readable corpus file")).collect()
}

#[test]
fn every_seed_corpus_passes_its_oracle() {
    for (target, check) in TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "{target} has no seed corpus");
        for input in &inputs {
            check(input);
        }
    }
}

/// An input: a corpus file with a few random byte edits (overwrite,
/// insert, delete), as a fuzzer's mutations would make, or random bytes.
fn mutated(target: &'static str, max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let seeds = corpus(target);
    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6);
    prop_oneof![
        (any::<prop::sample::Index>(), edits).prop_map(move |(pick, edits)| {
            let mut input = pick.get(&seeds).clone();
            for (at, byte, op) in edits {
                let len = input.len();
                match op {
                    0 if len > 0 => input[at.index(len)] = byte,
                    1 => input.insert(at.index(len + 1), byte),
                    _ if len > 0 => {
                        input.remove(at.index(len));
                    }
                    _ => input.push(byte),
                }
            }
            input
        }),
        prop::collection::vec(any::<u8>(), 0..max_len),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csv_loader_oracle(input in mutated("csv_loader", 400)) {
        csv_loader::check(&input);
    }

    #[test]
    fn saved_json_oracle(input in mutated("saved_json", 200)) {
        saved_json::check(&input);
    }

    #[test]
    fn engine_events_oracle(input in mutated("engine_events", 400)) {
        engine_events::check(&input);
    }

    #[test]
    fn analytics_oracle(input in mutated("analytics", 600)) {
        analytics::check(&input);
    }

    #[test]
    fn segments_oracle(input in mutated("segments", 200)) {
        segments::check(&input);
    }

    #[test]
    fn triggers_oracle(input in mutated("triggers", 200)) {
        triggers::check(&input);
    }

    #[test]
    fn time_varying_oracle(input in mutated("time_varying", 300)) {
        time_varying::check(&input);
    }
}

proptest! {
    // A fit costs far more than a load: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn model_fit_oracle(input in mutated("model_fit", 120)) {
        model_fit::check(&input);
    }
}

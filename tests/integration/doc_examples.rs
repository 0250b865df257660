//! Every public method a user touches has a runnable example: counted from
//! the source, so that the count cannot drift.
//!
//! An item counts as public when it is declared `pub fn` (not `pub(crate)`)
//! outside a test module and outside the private `math` floor; it has an
//! example when its doc comment holds a code block (doc tests compile and
//! run every one). Two thresholds: every method of the types a user meets
//! first ([`FIRST_MET`]) has one, and the share over all public functions
//! stays at or above [`MINIMUM_SHARE`] (80 %, the floor the crate keeps).

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::source_files;

/// The types whose every public method must carry an example.
const FIRST_MET: [&str; 35] = [
    "TransactionLog",
    "CsvOptions",
    "SummaryOptions",
    "PurchaseSummary",
    "PartialSummary",
    "BetaGeo",
    "ParetoNbd",
    "BetaGeoBetaBinom",
    "GammaGamma",
    "ShiftedBetaGeometric",
    "Clv",
    "RfmOptions",
    "RfmScores",
    "CohortOptions",
    "CohortAnalysis",
    "Lifecycle",
    "EngineOptions",
    "CustomerState",
    "StageModel",
    "ConsentLedger",
    "ConsentHistory",
    "Triggers",
    "Segment",
    "CompiledSegment",
    "LearnedChurn",
    "Evaluation",
    "CustomerTable",
    "CustomerPrediction",
    "ProfileOptions",
    "Identifier",
    "IdentityPolicy",
    "IdentityGraph",
    "Attributes",
    "AttributeMerge",
    "AttributeValue",
];

/// The share of all public functions with an example, at least.
const MINIMUM_SHARE: f64 = 0.8;

/// One public function: its file, the type of the `impl` block it is in
/// (empty at module level), its name, and whether it has an example.
struct Item {
    file: String,
    owner: String,
    name: String,
    example: bool,
}

/// The type an `impl` line is for: `impl<'a> Clv<'a> {` → `Clv`;
/// `impl Trait for Type {` → `Type`.
fn impl_target(line: &str) -> Option<String> {
    let rest = line.strip_prefix("impl")?;
    let rest = if rest.starts_with('<') { &rest[rest.find('>')? + 1..] } else { rest };
    let rest = rest.split(" for ").last()?.trim_start();
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

fn items() -> Vec<Item> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        if relative.starts_with("math") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut owner = String::new();
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("#[cfg(test)]") {
                break;
            }
            if let Some(t) = impl_target(line) {
                owner = t;
            } else if line.starts_with('}') {
                owner.clear();
            }
            let trimmed = line.trim_start();
            let Some(rest) = trimmed.strip_prefix("pub fn ").or_else(|| trimmed.strip_prefix("pub const fn ")) else {
                continue;
            };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            // The doc comment and attributes right above the function.
            let mut example = false;
            for above in lines[..i].iter().rev() {
                let above = above.trim_start();
                if above.starts_with("///") {
                    example |= above.contains("```");
                } else if !above.starts_with("#[") {
                    break;
                }
            }
            out.push(Item { file: relative.clone(), owner: owner.clone(), name, example });
        }
    }
    out
}

#[test]
fn every_method_of_the_first_met_types_has_an_example() {
    let missing: Vec<String> = items()
        .into_iter()
        .filter(|i| FIRST_MET.contains(&i.owner.as_str()) && !i.example)
        .map(|i| format!("{} {}::{}", i.file, i.owner, i.name))
        .collect();
    assert!(missing.is_empty(), "{} methods without an example:\n{}", missing.len(), missing.join("\n"));
}

#[test]
fn most_public_functions_have_an_example() {
    let items = items();
    let with = items.iter().filter(|i| i.example).count();
    let share = with as f64 / items.len() as f64;
    let mut by_file: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for i in &items {
        let e = by_file.entry(i.file.as_str()).or_default();
        e.0 += usize::from(i.example);
        e.1 += 1;
    }
    let table: Vec<String> = by_file.iter().map(|(f, (w, n))| format!("{f}: {w}/{n}")).collect();
    println!(
        "{with} of {} public functions have an example ({:.1} %)\n{}",
        items.len(),
        share * 100.0,
        table.join("\n")
    );
    assert!(
        share >= MINIMUM_SHARE,
        "{:.1} % below {:.0} %:\n{}",
        share * 100.0,
        MINIMUM_SHARE * 100.0,
        table.join("\n")
    );
}

#[test]
fn the_counter_reads_impl_blocks() {
    assert_eq!(impl_target("impl<'a> Clv<'a> {").as_deref(), Some("Clv"));
    assert_eq!(impl_target("impl PurchaseModel for BetaGeo {").as_deref(), Some("BetaGeo"));
    assert_eq!(impl_target("impl TryFrom<Vec<ConsentRecord>> for ConsentHistory {").as_deref(), Some("ConsentHistory"));
    assert_eq!(impl_target("impl TransactionLog {").as_deref(), Some("TransactionLog"));
    assert!(impl_target("fn impl_target() {}").is_none());
}

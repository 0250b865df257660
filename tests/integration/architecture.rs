//! The crate's architecture, checked from its source: the folders are the
//! data-flow floors, no import runs up them, and no two modules import each
//! other (directly or around a longer cycle). A module with several parts is
//! a folder of its own inside its floor (`log/summary/`).
//!
//! The floors, lowest first, are listed in [`FLOORS`] and in the crate docs
//! (`src/lib.rs`); the two lists must agree. An import is any path
//! `crate::floor::module…` or `super::module…` outside a comment, test
//! modules included: a lower floor's tests build their fixtures from their
//! own floor and below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::source_files;

/// The floors, lowest first; a file may import from its own floor or below.
/// `error` is beside every floor (the one error type).
const FLOORS: [&str; 9] = ["math", "domain", "log", "metrics", "clv", "lifecycle", "churn", "automation", "plots"];

/// A module of the crate: its floor and its name inside the floor ("mod" for
/// the floor's `mod.rs`).
type Module = (String, String);

/// The module a file is, or `None` for the crate root and the error type.
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let relative = file.strip_prefix(src).unwrap();
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    match parts.as_slice() {
        [root] if root == "lib" || root == "error" => None,
        [floor, module] => Some((floor.clone(), module.clone())),
        // A module with parts of its own (`log/summary/partial.rs`): the
        // parts are the module; imports among them are inside it.
        [floor, module, _part] => Some((floor.clone(), module.clone())),
        other => panic!("{}: a file outside the floors' one level of folders: {other:?}", file.display()),
    }
}

/// The identifier that starts `text`.
fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

/// Every module a file's code names, outside comments.
fn imports(floor: &str, code: &str) -> BTreeSet<Module> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let line = line.split(" //").next().unwrap_or(line);
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let target_floor = ident(rest);
            if !FLOORS.contains(&target_floor) {
                continue;
            }
            let after = &rest[target_floor.len()..];
            let module =
                after.strip_prefix("::").map(ident).filter(|m| !m.is_empty() && m.starts_with(char::is_lowercase));
            out.insert((target_floor.to_string(), module.unwrap_or("mod").to_string()));
        }
        for (at, _) in line.match_indices("super::") {
            // `super::` from a file names a sibling in the same floor, or
            // (inside its test module) the file itself, which is no import.
            let module = ident(&line[at + "super::".len()..]);
            if !module.is_empty() && module.starts_with(char::is_lowercase) {
                out.insert((floor.to_string(), module.to_string()));
            }
        }
    }
    out
}

fn rank(floor: &str) -> usize {
    FLOORS.iter().position(|f| *f == floor).unwrap_or_else(|| panic!("{floor} is not a floor"))
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let known: BTreeSet<Module> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let code = std::fs::read_to_string(file).unwrap();
        let edges: BTreeSet<Module> = imports(&module.0, &code)
            .into_iter()
            // A path to an item of the floor (`crate::clv::BetaGeo`) or to a
            // function of a sibling counts as an import of the floor's mod.rs.
            .map(|m| if known.contains(&m) { m } else { (m.0, "mod".to_string()) })
            .filter(|m| *m != module)
            .collect();
        graph.entry(module).or_default().extend(edges);
    }
    graph
}

#[test]
fn imports_respect_the_floors() {
    let graph = graph();
    let mut upward = Vec::new();
    for ((floor, module), edges) in &graph {
        for (to_floor, to_module) in edges {
            // A floor's mod.rs re-exports its files: that is no upward step.
            let within = to_floor == floor;
            if !within && rank(to_floor) > rank(floor) {
                upward.push(format!("{floor}::{module} imports {to_floor}::{to_module}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports against the floors:\n{}", upward.join("\n"));
}

#[test]
fn no_module_imports_itself_round_a_cycle() {
    let graph = graph();
    // A floor's mod.rs declares and re-exports its files; the edges from it
    // to them are structure, not imports, so they are left out of the
    // search (an edge from a file to its own floor's mod.rs stays in).
    let edges = |m: &Module| -> Vec<Module> {
        graph[m].iter().filter(|t| !(m.1 == "mod" && t.0 == m.0)).filter(|t| graph.contains_key(*t)).cloned().collect()
    };
    // Depth-first search with three colours; a grey node met again closes a cycle.
    let mut colour: BTreeMap<Module, u8> = graph.keys().map(|m| (m.clone(), 0)).collect();
    let mut cycles = Vec::new();
    fn visit(
        m: &Module,
        edges: &dyn Fn(&Module) -> Vec<Module>,
        colour: &mut BTreeMap<Module, u8>,
        path: &mut Vec<Module>,
        cycles: &mut Vec<String>,
    ) {
        colour.insert(m.clone(), 1);
        path.push(m.clone());
        for t in edges(m) {
            match colour[&t] {
                0 => visit(&t, edges, colour, path, cycles),
                1 => {
                    let start = path.iter().position(|p| *p == t).unwrap();
                    let names: Vec<String> = path[start..].iter().map(|(f, n)| format!("{f}::{n}")).collect();
                    cycles.push(format!("{} -> {}::{}", names.join(" -> "), t.0, t.1));
                }
                _ => {}
            }
        }
        path.pop();
        colour.insert(m.clone(), 2);
    }
    for m in graph.keys() {
        if colour[m] == 0 {
            visit(m, &edges, &mut colour, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "modules that import each other:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    // The parser itself: an upward path, a sibling, a comment.
    let code = "use crate::clv::BetaGeo;\nuse super::profile::Profile;\n// crate::automation::Segment\nlet x = crate::domain::money::to_minor_units(d, 2);";
    let found = imports("lifecycle", code);
    let expected: BTreeSet<Module> = [("clv", "mod"), ("lifecycle", "profile"), ("domain", "money")]
        .iter()
        .map(|(f, m)| (f.to_string(), m.to_string()))
        .collect();
    assert_eq!(found, expected);
    // And the crate docs name the floors in this order.
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let mut at = 0;
    for floor in FLOORS {
        let needle = if floor == "math" { "(`math`, private)".to_string() } else { format!("[`{floor}`]") };
        let found = lib[at..].find(&needle).unwrap_or_else(|| panic!("the crate docs list {floor} out of order"));
        at += found;
    }
}

//! The layering of `src/` (see ARCHITECTURE.md): every top-level module uses only modules
//! ranked below it, so no two of them import each other and the arrows point one way. A new
//! top-level module gets a rank here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by rank, lowest first: vocabulary, the results model, the runtime,
/// evaluation and presentation, the commands. A module may use any module of a lower rank.
const RANKS: &[(&str, u32)] = &[
    // vocabulary
    ("telegram", 0),
    ("profile", 1),
    ("script", 1),
    // the results model
    ("report", 2),
    // the runtime
    ("server", 3),
    ("stats", 4),
    ("botapi", 4),
    ("demo_bot", 4),
    ("transport", 5),
    ("harness", 5),
    ("vu", 6),
    ("scheduler", 7),
    ("reload", 8),
    // evaluation and presentation
    ("threshold", 9),
    ("output", 10),
    ("control", 11),
    // the commands
    ("cli", 12),
    ("config", 13),
    ("cmd", 14),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file's code names through `crate::`, comments left out. A grouped
/// `use crate::{a::X, b}` counts every first name in the group.
fn uses(source: &str, known: &BTreeSet<&str>) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").trim())
                    .collect()
            }
            None => vec![
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or(""),
            ],
        };
        found.extend(
            names
                .into_iter()
                .filter(|n| known.contains(n))
                .map(String::from),
        );
    }
    found
}

#[test]
fn modules_only_use_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let ranks: BTreeMap<&str, u32> = RANKS.iter().copied().collect();
    let known: BTreeSet<&str> = ranks.keys().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unranked = BTreeSet::new();
    let mut wrong = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&rank) = ranks.get(module.as_str()) else {
            unranked.insert(module);
            continue;
        };
        let source = std::fs::read_to_string(&file).unwrap();
        for used in uses(&source, &known) {
            if used != module && ranks[used.as_str()] >= rank {
                wrong.insert(format!(
                    "{} (rank {rank}) uses {used} (rank {})",
                    rel.display(),
                    ranks[used.as_str()]
                ));
            }
        }
    }
    assert!(
        unranked.is_empty(),
        "top-level modules without a rank in tests/it/layers.rs: {unranked:?}"
    );
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_plain_paths() {
    let known: BTreeSet<&str> = ["report", "stats", "vu"].into_iter().collect();
    let source = "use crate::{\n    report::Summary,\n    stats::Recorder,\n};\n// crate::vu in a comment\nlet x = crate::vu::Worker::start();\n";
    let found = uses(source, &known);
    assert_eq!(
        found,
        ["report", "stats", "vu"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

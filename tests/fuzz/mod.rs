//! The pieces of the generated-input suite (`tests/fuzz.rs`): a seeded
//! generator, YAML and JSON trees and their mutations, byte noise, the
//! editor's view of a file, the five properties, and the one adapter to
//! sandboxer's API (`targets`).

pub mod cases;
pub mod check;
pub mod editor;
pub mod json;
pub mod noise;
pub mod report;
pub mod rng;
pub mod run;
pub mod targets;
pub mod world;
pub mod yaml;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use check::{Case, Checked, check};
use world::World;

/// Checks `count` cases made by `make` on `threads` threads, in index order
/// as far as the threads allow; returns each case with what it found.
pub fn run_pool(
    world: &World,
    count: usize,
    threads: usize,
    out: Option<&Path>,
    make: &(dyn Fn(usize) -> (String, Case) + Sync),
) -> Vec<(usize, String, Case, Checked)> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..threads.max(1) {
            let (next, results) = (&next, &results);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let (label, case) = make(index);
                    let flight = out.map(|o| report::in_flight(o, worker, &case, &label));
                    let checked = check(world, &case);
                    for path in flight.into_iter().flatten() {
                        let _ = std::fs::remove_file(path);
                    }
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((index, label, case, checked));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(index, ..)| *index);
    results
}

/// A case kept in `tests/fixtures/fuzz/<target>/`: the input and its sidecar.
pub struct Kept {
    /// The input file.
    pub path: PathBuf,
    /// The case, as the checks take it.
    pub case: Case,
}

/// Every case of the regression corpus under `dir`, sorted; panics on an input
/// without a sidecar that says what it checks.
pub fn corpus(dir: &Path) -> Vec<Kept> {
    let mut kept = Vec::new();
    for target in targets::Target::ALL {
        let folder = dir.join(target.name());
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("read a folder entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == target.extension()))
            .collect();
        paths.sort();
        for path in paths {
            let why_path = path.with_extension("why");
            let why = std::fs::read_to_string(&why_path).unwrap_or_else(|e| {
                panic!(
                    "{} has no sidecar {} saying what it checks: {e}",
                    path.display(),
                    why_path.display()
                )
            });
            let field = |name: &str| {
                why.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                    .map(|v| v.trim().to_string())
            };
            let checks = field("checks").unwrap_or_else(|| panic!("{} has no `checks:` line", why_path.display()));
            let input = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            kept.push(Kept {
                case: Case {
                    target,
                    recipe: format!("{}: {checks}", path.file_name().unwrap_or_default().to_string_lossy()),
                    input,
                    edit: field("edit"),
                },
                path,
            });
        }
    }
    kept
}

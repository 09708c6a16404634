//! Generated inputs against the loaders and the binary: mutations of the
//! example manifests, the built-in profiles, a port registry and a saved plan,
//! plus large and deep inputs, each checked for five properties (no crash,
//! time linear in size, every refusal located and hinted, schema and loader
//! agree, a refusal changes nothing; see `tests/fuzz/check.rs`).
//!
//! The run is seeded: `SANDBOXER_FUZZ_SEED` (default 1) and
//! `SANDBOXER_FUZZ_CASES` (default 300) pick the cases, and case `i` of a seed
//! is the same whatever the count. With `SANDBOXER_FUZZ_OUT=DIR`, each
//! finding's input is written to `DIR/<target>/` with a sidecar, in the form
//! the regression corpus keeps (`tests/fixtures/fuzz/`); `scripts/fuzz` runs
//! this test in release mode that way. Every sandboxer call is in
//! `tests/fuzz/targets.rs`. Nothing here talks to anything but 127.0.0.1:
//! `apply` only runs on inputs `validate` refuses, or on saved plans that act
//! on local workspaces in the case's own folder.

mod support;

#[path = "fuzz/mod.rs"]
mod fuzz;

use std::path::{Path, PathBuf};

use fuzz::cases::{self, Seeds};
use fuzz::check::check;
use fuzz::report::Report;
use fuzz::targets::Target;
use fuzz::world::World;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz");

/// The run's settings, from the environment.
struct Config {
    cases: usize,
    seed: u64,
    out: Option<PathBuf>,
    threads: usize,
}

impl Config {
    fn from_env() -> Config {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
                .unwrap_or(default)
        };
        Config {
            cases: number("SANDBOXER_FUZZ_CASES", 300) as usize,
            seed: number("SANDBOXER_FUZZ_SEED", 1),
            out: std::env::var_os("SANDBOXER_FUZZ_OUT").map(PathBuf::from),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
        }
    }
}

#[test]
fn generated_inputs_keep_the_five_properties() {
    let config = Config::from_env();
    let world = World::new();
    let seeds = Seeds::new(&world.template);
    let large = cases::large(&seeds);
    let deep = cases::deep();
    let generated = config.cases.saturating_sub(large.len() + deep.len());
    let out = config.out.as_deref();
    let mut report = Report::new(config.seed);

    // The generated cases and the large ones share the threads...
    let make = |i: usize| {
        if i < generated {
            (i.to_string(), cases::generate(&seeds, config.seed, i))
        } else {
            (format!("large-{}", i - generated), large[i - generated].clone())
        }
    };
    for (_, label, case, checked) in fuzz::run_pool(&world, generated + large.len(), config.threads, out, &make) {
        report.add(&label, &case, checked);
    }
    // ...and the deep ones run all at once at the end: a loader that hangs on
    // one is given up on at its deadline, and keeps a core busy until the end.
    let make = |i: usize| (format!("deep-{i}"), deep[i].clone());
    for (_, label, case, checked) in fuzz::run_pool(&world, deep.len(), deep.len(), out, &make) {
        report.add(&label, &case, checked);
    }

    finish(&report, out, "the generated cases");
}

#[test]
fn the_regression_corpus_keeps_the_five_properties() {
    let kept = fuzz::corpus(Path::new(CORPUS));
    assert!(!kept.is_empty(), "no case in {CORPUS}");
    let world = World::new();
    let mut report = Report::new(0);
    for k in &kept {
        let label = k.path.strip_prefix(CORPUS).unwrap_or(&k.path).display().to_string();
        // A kept plan edit is made again on this checkout's plan, so the case
        // follows the plan format rather than the one it was found with.
        let mut case = k.case.clone();
        if let (Target::Plan, Some(edit)) = (case.target, &case.edit)
            && let Some(input) = world.edited(edit)
        {
            case.input = input;
        }
        report.add(&label, &case, check(&world, &case));
    }
    finish(&report, None, "the regression corpus (tests/fixtures/fuzz/)");
}

fn finish(report: &Report, out: Option<&Path>, what: &str) {
    eprintln!("{what}:\n{}", report.figures());
    if let Some(out) = out {
        let written = report.write_reproducers(out);
        let _ = std::fs::write(out.join("summary.txt"), report.figures());
        let _ = std::fs::write(out.join("classes.txt"), report.classes());
        eprintln!("{written} reproducer(s) in {}", out.display());
    }
    assert!(report.is_clean(), "{what}: {}", report.failure());
}

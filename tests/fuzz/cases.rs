//! The cases: mutations of the seeds (the example manifests, the built-in
//! profiles, a port registry, the fixture's saved plan), and a fixed list of
//! large and deep inputs that every run includes.

use std::path::Path;

use super::check::Case;
use super::json::{self, Json};
use super::noise::noise;
use super::rng::Rng;
use super::targets::{self, Target};
use super::world::REGISTRY;
use super::yaml::{self, Node};

/// One seed document: where it comes from, its text, its tree.
struct Seed {
    name: String,
    text: String,
    tree: Node,
}

/// The documents cases are made from.
pub struct Seeds {
    manifests: Vec<Seed>,
    profiles: Vec<Seed>,
    registries: Vec<Seed>,
    plan: Json,
    plan_text: String,
    /// The keys each target's schema knows.
    keys: Vec<(Target, Vec<String>)>,
}

impl Seeds {
    /// The examples, the profiles and the registry of this checkout, and `plan`
    /// (the fixture's plan with placeholders).
    pub fn new(plan: &str) -> Seeds {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Seeds {
            manifests: yaml_files(&root.join("examples")),
            profiles: yaml_files(&root.join("profiles")),
            registries: vec![seed("a port registry".into(), REGISTRY.into())],
            plan: json::parse(plan.as_bytes()).expect("the fixture's plan is JSON"),
            plan_text: plan.to_string(),
            keys: targets::schemas()
                .into_iter()
                .map(|(target, schema)| {
                    let mut keys = Vec::new();
                    schema_keys(&schema, &mut keys);
                    keys.sort();
                    keys.dedup();
                    (target, keys)
                })
                .collect(),
        }
    }

    fn keys(&self, target: Target) -> &[String] {
        self.keys
            .iter()
            .find(|(t, _)| *t == target)
            .map_or(&[], |(_, keys)| keys.as_slice())
    }

    fn of(&self, target: Target) -> &[Seed] {
        match target {
            Target::Manifest => &self.manifests,
            Target::Profile => &self.profiles,
            Target::PortRegistry => &self.registries,
            Target::Plan => &[],
        }
    }
}

/// Every property name anywhere in a schema.
fn schema_keys(schema: &serde_json::Value, out: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                out.extend(properties.keys().cloned());
            }
            map.values().for_each(|v| schema_keys(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| schema_keys(v, out)),
        _ => {}
    }
}

fn yaml_files(dir: &Path) -> Vec<Seed> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.expect("read a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let name = format!(
                "{}/{}",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            seed(name, text)
        })
        .collect()
}

fn seed(name: String, text: String) -> Seed {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("seed {name} is not YAML: {e}"));
    Seed {
        name,
        tree: yaml::from_value(&value),
        text,
    }
}

/// Case `index` of the run with `seed`: the same on every machine, whatever
/// the number of cases.
pub fn generate(seeds: &Seeds, seed: u64, index: usize) -> Case {
    let mut rng = Rng::for_case(seed, index);
    let target = match rng.below(100) {
        0..=39 => Target::Manifest,
        40..=59 => Target::Profile,
        60..=74 => Target::PortRegistry,
        _ => Target::Plan,
    };
    match target {
        Target::Plan => plan_case(seeds, &mut rng),
        _ => yaml_case(seeds, target, &mut rng),
    }
}

fn yaml_case(seeds: &Seeds, target: Target, rng: &mut Rng) -> Case {
    let all = seeds.of(target);
    let seed = rng.pick(all);
    let others: Vec<Node> = all.iter().map(|s| s.tree.clone()).collect();
    let mut steps = Vec::new();
    let mut bytes = if rng.percent(15) {
        seed.text.clone().into_bytes()
    } else {
        let mut tree = seed.tree.clone();
        for _ in 0..*rng.pick(&[1, 1, 1, 2, 2, 3, 4]) {
            steps.push(yaml::mutate(rng, &mut tree, &others, seeds.keys(target)));
        }
        let mut text = yaml::render(&tree);
        if rng.percent(10) {
            let (framed, how) = yaml::frame(rng, &text, &others);
            text = framed;
            steps.push(how);
        }
        text.into_bytes()
    };
    if steps.is_empty() || rng.percent(20) {
        for _ in 0..rng.between(1, 3) {
            steps.push(noise(rng, &mut bytes));
        }
    }
    Case {
        target,
        recipe: format!("{}: {}", seed.name, steps.join("; ")),
        input: bytes,
        edit: None,
    }
}

fn plan_case(seeds: &Seeds, rng: &mut Rng) -> Case {
    let mut plan = seeds.plan.clone();
    let mut steps = Vec::new();
    let mut edit = None;
    let mut bytes = match rng.below(100) {
        0..=39 => {
            let name = rng.pick(json::EDITS);
            if json::edit(name, &mut plan) {
                edit = Some(name.to_string());
                steps.push(name.to_string());
            }
            plan.render().into_bytes()
        }
        40..=84 => {
            for _ in 0..*rng.pick(&[1, 1, 2, 3]) {
                steps.push(json::mutate(rng, &mut plan));
            }
            plan.render().into_bytes()
        }
        _ => seeds.plan_text.clone().into_bytes(),
    };
    if steps.is_empty() || rng.percent(10) {
        // Noise makes a plan that is not the edited one any more.
        edit = None;
        for _ in 0..rng.between(1, 3) {
            steps.push(noise(rng, &mut bytes));
        }
    }
    Case {
        target: Target::Plan,
        recipe: format!("the fixture's plan: {}", steps.join("; ")),
        input: bytes,
        edit,
    }
}

/// The large inputs (up to about 1 MiB), which must load in linear time.
pub fn large(seeds: &Seeds) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut sandboxes = String::from("version: 1\nproject: big\nsandboxes:\n");
    for i in 0..20_000 {
        sandboxes.push_str(&format!("  s{i}:\n    profile: profile.local-workspace\n"));
    }
    cases.push(big(Target::Manifest, "20,000 sandboxes (1 MB)", sandboxes));
    cases.push(big(
        Target::Manifest,
        "a 1 MiB string",
        format!("version: 1\nproject: big\nport_registry: \"{}\"\n", "x".repeat(1 << 20)),
    ));
    let mut ports = String::from("version: 1\nports:\n");
    for port in 1..=60_000 {
        ports.push_str(&format!("  {port}: vm-{port}\n"));
    }
    cases.push(big(Target::PortRegistry, "60,000 ports (1 MB)", ports));
    let mut setup = String::from("name: profile.big\ndriver: local-workspace\nsetup:\n");
    for i in 0..40_000 {
        setup.push_str(&format!("  - echo step {i}\n"));
    }
    cases.push(big(Target::Profile, "40,000 setup commands (1 MB)", setup));
    let mut children = format!(
        "version: 1\nproject: big\nsandboxes:\n  ? {}\n  :\n    profile: profile.local-workspace\n    inputs:\n",
        "k".repeat(50_000)
    );
    for i in 0..2_000 {
        children.push_str(&format!("      i{i}: x\n"));
    }
    cases.push(big(
        Target::Manifest,
        "a 50,000-character key with 2,000 children",
        children,
    ));
    let mut plan = seeds.plan.clone();
    if let Some(Json::Arr(changes)) = plan.get_mut("changes")
        && let Some(first) = changes.first().cloned()
    {
        changes.extend(std::iter::repeat_n(first, 1_500));
    }
    let mut case = big(Target::Plan, "a change given 1,500 times more (1 MB)", plan.render());
    case.edit = Some("a change given twice".into());
    cases.push(case);
    cases
}

/// The deep inputs and alias bombs, which must be refused in linear time.
pub fn deep() -> Vec<Case> {
    let n = 100_000;
    let head = "version: 1\nproject: deep\nsandboxes: ";
    vec![
        big(
            Target::Manifest,
            "100,000-deep flow sequences",
            format!("{head}{}{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        big(
            Target::Manifest,
            "100,000-deep flow mappings",
            format!("{head}{}x{}\n", "{a: ".repeat(n), "}".repeat(n)),
        ),
        big(
            Target::Manifest,
            "100,000-deep block sequences",
            format!("version: 1\nproject: deep\nsandboxes:\n{}x\n", "- ".repeat(n)),
        ),
        big(
            Target::Manifest,
            "a billion laughs",
            format!("version: 1\nproject: deep\n{}", yaml::alias_bomb(9, 9)),
        ),
        big(
            Target::Profile,
            "50,000-deep flow sequences",
            format!(
                "name: profile.deep\ndriver: local-workspace\nsetup: {}{}\n",
                "[".repeat(n / 2),
                "]".repeat(n / 2)
            ),
        ),
        big(
            Target::Profile,
            "a billion laughs",
            format!(
                "name: profile.deep\ndriver: local-workspace\n{}setup: *a8\n",
                yaml::alias_bomb(9, 9)
            ),
        ),
        big(
            Target::PortRegistry,
            "100,000-deep flow mappings",
            format!("version: 1\nports: {}x{}\n", "{a: ".repeat(n), "}".repeat(n)),
        ),
        big(
            Target::Plan,
            "100,000-deep arrays",
            format!(
                "{{\"format_version\": 2, \"changes\": {}{}}}\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
        ),
    ]
}

fn big(target: Target, recipe: &str, text: String) -> Case {
    Case {
        target,
        recipe: format!("large: {recipe}"),
        input: text.into_bytes(),
        edit: None,
    }
}

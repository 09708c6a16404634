//! The manifest schema editors use: the structural schema of the model, plus
//! what the profiles know. `profile:` completes with the profiles' names and
//! descriptions, and for each known profile its `inputs:` complete and are
//! checked (types, defaults, descriptions, unknown names refused).
//!
//! The loader checks a manifest with the structural schema alone and then
//! resolves inputs itself, with did-you-mean hints no schema can give; this
//! schema is for editors and CI linters, and accepts no less than the loader.

use serde_json::{Map, Value, json};

use crate::profile::{Catalog, InputSpec, InputType, Profile};

/// Which profile names the schema accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileNames {
    /// The catalog's names, and any other `profile.<name>` (a project's own
    /// profiles, which a published schema cannot know).
    Open,
    /// The catalog's names only: the schema of one project, whose profile
    /// folders were read into the catalog; a misspelt name is an error.
    Closed,
}

/// The manifest schema for editors, knowing the profiles of `catalog`.
pub fn schema(catalog: &Catalog, names: ProfileNames) -> Value {
    let mut schema = super::json_schema();
    let profiles: Vec<&Profile> = catalog.names().filter_map(|n| catalog.get(n)).collect();
    let image_profiles: Vec<&Profile> = profiles
        .iter()
        .copied()
        .filter(|p| p.driver == crate::profile::DriverName::PACKER)
        .collect();
    if let Some(definitions) = schema.get_mut("definitions").and_then(Value::as_object_mut) {
        if let Some(spec) = definitions.get_mut("SandboxSpec") {
            describe_profiles(spec, &profiles, names);
        }
        if let Some(spec) = definitions.get_mut("ImageSpec") {
            describe_profiles(spec, &image_profiles, names);
        }
    }
    schema
}

/// Sets `profile:` of an entry's schema to the known names, and adds one
/// `if`/`then` per profile that checks `inputs:`.
fn describe_profiles(spec: &mut Value, profiles: &[&Profile], names: ProfileNames) {
    let Some(spec) = spec.as_object_mut() else { return };
    let mut choices: Vec<Value> = profiles
        .iter()
        .map(|p| json!({"const": p.name, "description": one_line(&p.description)}))
        .collect();
    if names == ProfileNames::Open {
        choices.push(json!({
            "type": "string",
            "pattern": crate::safety::PROFILE_PATTERN,
            "description": "A profile of this project (from its `profiles/` folder or `--profiles`).",
        }));
    }
    let description =
        "The profile that makes this resource: `profile.<name>`, built in or from the project's `profiles/` folder.";
    if let Some(properties) = spec.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert(
            "profile".into(),
            json!({"description": description, "type": "string", "anyOf": choices}),
        );
    }
    let rules: Vec<Value> = profiles
        .iter()
        .map(|p| {
            json!({
                "if": {"properties": {"profile": {"const": p.name}}, "required": ["profile"]},
                "then": {"properties": {"inputs": inputs_schema(p)}},
            })
        })
        .collect();
    if !rules.is_empty() {
        spec.insert("allOf".into(), Value::Array(rules));
    }
}

/// `inputs:` of one profile: each input and alias by name, the families of
/// `input_patterns`, nothing else; the required inputs that nothing else
/// (a default, an environment variable) can give.
fn inputs_schema(profile: &Profile) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, spec) in &profile.inputs {
        properties.insert(name.clone(), input_schema(spec, None));
        for alias in &spec.aliases {
            properties.insert(alias.clone(), input_schema(spec, Some(name)));
        }
        if spec.required && spec.env.is_none() && spec.default.is_none() {
            let any_name: Vec<Value> = std::iter::once(name)
                .chain(&spec.aliases)
                .map(|n| json!({"required": [n]}))
                .collect();
            required.push(json!({"anyOf": any_name}));
        }
    }
    let mut patterns = Map::new();
    for (pattern, spec) in &profile.input_patterns {
        match pattern.strip_suffix('*') {
            Some(prefix) => {
                patterns.insert(format!("^{}.+$", regex_escape(prefix)), input_schema(spec, None));
            }
            None => {
                properties.insert(pattern.clone(), input_schema(spec, None));
            }
        }
    }
    let mut schema = Map::new();
    schema.insert("description".into(), format!("Inputs of {}.", profile.name).into());
    schema.insert("properties".into(), Value::Object(properties));
    if !patterns.is_empty() {
        schema.insert("patternProperties".into(), Value::Object(patterns));
    }
    schema.insert("additionalProperties".into(), false.into());
    if !required.is_empty() {
        schema.insert("allOf".into(), Value::Array(required));
    }
    Value::Object(schema)
}

/// One input: its type as JSON Schema, its default, and a description that
/// says what the profile file says (default, environment variable, secrecy).
fn input_schema(spec: &InputSpec, alias_of: Option<&str>) -> Value {
    let mut words = vec![one_line(&spec.description)];
    if let Some(canonical) = alias_of {
        words.insert(0, format!("Another name for `{canonical}`."));
    }
    words.push(format!("Type {}.", spec.kind));
    if spec.required && spec.env.is_none() {
        words.push("Required.".into());
    }
    if let Some(var) = &spec.env {
        words.push(format!("When not given: ${var}."));
    }
    if let Some(default) = &spec.default {
        words.push(format!("Default: {default}."));
    }
    if spec.sensitive {
        words.push("Secret: never shown, logged or stored.".into());
    }
    if spec.forces_replace {
        words.push("Changing it replaces the resource.".into());
    }
    let words: Vec<String> = words.into_iter().filter(|w| !w.is_empty()).collect();
    let mut schema = type_schema(spec);
    if let Some(object) = schema.as_object_mut() {
        object.insert("description".into(), words.join(" ").into());
        if let Some(default) = &spec.default {
            object.insert("default".into(), serde_json::to_value(default).unwrap_or(Value::Null));
        }
    }
    schema
}

/// What values of an input type the loader accepts. Numbers and booleans may
/// be written as text (`"12222"`, `"true"`), as the loader reads them.
fn type_schema(spec: &InputSpec) -> Value {
    let whole_number_text = "^\\s*[-+]?[0-9]+\\s*$";
    match spec.kind {
        InputType::String => json!({"type": ["string", "integer", "boolean"]}),
        InputType::Int => json!({"anyOf": [
            {"type": "integer"},
            {"type": "string", "pattern": whole_number_text},
        ]}),
        InputType::Bool => json!({"anyOf": [
            {"type": "boolean"},
            {"type": "string", "enum": ["true", "false"]},
        ]}),
        InputType::Port => json!({"anyOf": [
            {"type": "integer", "minimum": 1, "maximum": 65535},
            {"type": "string", "pattern": whole_number_text},
        ]}),
        InputType::Enum => json!({"enum": spec.values}),
        InputType::LocalPath => json!({"type": "string", "minLength": 1}),
        InputType::RemotePath => json!({"type": "string", "pattern": "^/"}),
        InputType::SshAlias => json!({"anyOf": [
            {"type": "string", "pattern": "^[A-Za-z0-9._][A-Za-z0-9._-]*$"},
            {"type": "integer", "minimum": 0},
        ]}),
        InputType::Duration => json!({"type": "string", "minLength": 1}),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with the characters a regular expression gives meaning escaped.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(schema: &Value, manifest: Value) -> bool {
        jsonschema::validator_for(schema)
            .expect("schema compiles")
            .is_valid(&manifest)
    }

    fn manifest(profile: &str, inputs: Value) -> Value {
        json!({"version": 1, "project": "p", "sandboxes": {"a": {"profile": profile, "inputs": inputs}}})
    }

    #[test]
    fn built_in_profiles_and_their_inputs_are_checked() {
        let open = schema(&Catalog::builtin(), ProfileNames::Open);
        let good = json!({"vm": "haskell-build", "tunnel_port": 12222, "repo": "./r"});
        assert!(valid(&open, manifest("profile.vm-haskell-build", good)));
        // An alias gives the required input; text for a port is what the loader reads too.
        let alias = json!({"ssh_target": "haskell-build", "tunnel_port": "12222"});
        assert!(valid(&open, manifest("profile.vm-haskell-build", alias)));
        let unknown = json!({"vm": "haskell-build", "tunel_port": 12222});
        assert!(!valid(&open, manifest("profile.vm-haskell-build", unknown)));
        assert!(!valid(
            &open,
            manifest("profile.vm-haskell-build", json!({"repo": "./r"}))
        ));
        assert!(!valid(
            &open,
            manifest("profile.vm-haskell-build", json!({"vm": "-oProxyCommand=x"}))
        ));
    }

    #[test]
    fn an_open_schema_takes_other_profiles_and_a_closed_one_does_not() {
        let open = schema(&Catalog::builtin(), ProfileNames::Open);
        let closed = schema(&Catalog::builtin(), ProfileNames::Closed);
        let typo = manifest("profile.vm-haskel-build", json!({"anything": 1}));
        assert!(valid(&open, typo.clone()));
        assert!(!valid(&closed, typo));
        assert!(!valid(&open, manifest("vm-haskell-build", json!({}))));
    }

    #[test]
    fn images_take_packer_profiles_and_packer_variables() {
        let closed = schema(&Catalog::builtin(), ProfileNames::Closed);
        let image = |profile: &str| {
            json!({"version": 1, "project": "p", "images": {"i": {"profile": profile, "inputs": {
                "vm_name": "vm1", "packer_template": "./t", "packer_var_ghc": "9.6.4",
            }}}})
        };
        assert!(valid(&closed, image("profile.vm-packer-build")));
        assert!(!valid(&closed, image("profile.local-workspace")));
    }
}

//! Generating the published JSON Schemas from the types the loaders read.

/// The schema of `T`, with the number ranges of its integer types spelled out.
///
/// schemars marks a `u16` as `"format": "uint16"`, a format validators ignore,
/// so without the range an editor would accept 70000 for a port that the
/// loader refuses; with it, schema and loader agree.
pub fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    // Draft-07: what editors' YAML language servers understand today.
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut value = serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or_default();
    add_integer_ranges(&mut value);
    value
}

fn add_integer_ranges(value: &mut serde_json::Value) {
    use serde_json::{Value, json};
    match value {
        Value::Object(map) => {
            let range: Option<(Value, Value)> = match map.get("format").and_then(Value::as_str) {
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64" | "uint") => Some((json!(0), json!(u64::MAX))),
                Some("int8") => Some((json!(i8::MIN), json!(i8::MAX))),
                Some("int16") => Some((json!(i16::MIN), json!(i16::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64" | "int") => Some((json!(i64::MIN), json!(i64::MAX))),
                _ => None,
            };
            if let Some((min, max)) = range {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            for child in map.values_mut() {
                add_integer_ranges(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(add_integer_ranges),
        _ => {}
    }
}

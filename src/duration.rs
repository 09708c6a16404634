//! Durations as operators write them: `500ms`, `30s`, `5m`, `1h`.

use std::time::Duration;

/// A duration that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(pub String);

impl From<DurationError> for String {
    fn from(e: DurationError) -> String {
        e.0
    }
}

/// Parses `<number><unit>` with unit `ms`, `s`, `m` or `h`; a bare `0` is zero.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| DurationError(format!("`{text}` is not a duration")))?;
    let millis = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => {
            return Err(DurationError(format!(
                "`{text}` is not a duration (units: ms, s, m, h)"
            )));
        }
    };
    millis
        .map(Duration::from_millis)
        .ok_or_else(|| DurationError(format!("`{text}` is too long a duration")))
}

/// Formats an elapsed time for progress lines: `0.4s`, `12s`, `3m05s`.
pub fn format_elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else if secs < 60.0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(parse("5").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("-1s").is_err());
    }

    #[test]
    fn formats_elapsed() {
        assert_eq!(format_elapsed(Duration::from_millis(420)), "0.4s");
        assert_eq!(format_elapsed(Duration::from_secs(185)), "3m05s");
    }
}

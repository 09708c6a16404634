//! Durations as operators write them: `500ms`, `30s`, `5m`, `1h`, `1m30s`.

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

/// Parses a duration as `humantime` reads them: `500ms`, `30s`, `5m`, `1h`,
/// and combinations such as `1m30s` or `1h 30m`; a bare `0` is zero. A number
/// without a unit is refused (seconds or milliseconds would be a guess).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => DurationError(format!("`{text}` is too long a duration")),
        _ => DurationError(format!("`{text}` is not a duration (e.g. 500ms, 30s, 5m, 1h, 1m30s)")),
    })
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
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse("99999999999999999999h").is_err());
    }

    #[test]
    fn formats_elapsed() {
        assert_eq!(format_elapsed(Duration::from_millis(420)), "0.4s");
        assert_eq!(format_elapsed(Duration::from_secs(185)), "3m05s");
    }
}

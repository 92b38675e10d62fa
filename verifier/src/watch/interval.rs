//! `--interval`: durations as upstream's agent takes them (`5m`, `1h30m`, `1.5h`: Go duration
//! syntax restricted to hours and minutes, `^([0-9]+(\.[0-9]+)?(m|h))+$`), plus seconds (`30s`)
//! as an extension for tests and demos. At least one second; upstream's CRD requires one minute.

use std::time::Duration;

/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// An interval that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    /// Not `<number><unit>` repeated, with units `h`, `m`, `s`.
    #[error(
        "invalid interval '{0}': expected a duration like 5m, 1h30m or 1.5h (units h, m, and s as an extension)"
    )]
    Syntax(String),
    /// Shorter than [`MIN_INTERVAL`].
    #[error("invalid interval '{0}': it must be at least 1s (upstream's CRD requires at least 1m)")]
    TooShort(String),
}

/// Parses an interval.
pub fn parse_interval(text: &str) -> Result<Duration, IntervalError> {
    let syntax = || IntervalError::Syntax(text.to_owned());
    let mut rest = text;
    let mut total_ms: u128 = 0;
    if rest.is_empty() {
        return Err(syntax());
    }
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if int_len == 0 {
            return Err(syntax());
        }
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return Err(syntax());
                }
                f.split_at(n)
            }
            None => ("", after),
        };
        let unit_ms: u128 = match after.as_bytes().first() {
            Some(b'h') => 3_600_000,
            Some(b'm') => 60_000,
            Some(b's') => 1_000,
            _ => return Err(syntax()),
        };
        let int: u128 = int.parse().map_err(|_| syntax())?;
        // Fractions to the millisecond (the finest any unit here needs), truncated.
        let mut frac_ms: u128 = 0;
        let mut scale = unit_ms;
        for d in frac.bytes().take(9) {
            scale /= 10;
            frac_ms += u128::from(d - b'0') * scale;
        }
        total_ms = int
            .checked_mul(unit_ms)
            .and_then(|v| v.checked_add(frac_ms))
            .and_then(|v| v.checked_add(total_ms))
            .filter(|v| *v <= u128::from(u64::MAX))
            .ok_or_else(syntax)?;
        rest = &after[1..];
    }
    let d = Duration::from_millis(u64::try_from(total_ms).map_err(|_| syntax())?);
    if d < MIN_INTERVAL {
        return Err(IntervalError::TooShort(text.to_owned()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_durations_and_seconds_parse() {
        let cases = [
            ("5m", 300),
            ("1m", 60),
            ("1h", 3600),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("0.5m", 30),
            ("90m", 5400),
            ("2s", 2),
            ("1m30s", 90),
            ("10h5m", 36_300),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_interval(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_interval("1.25s"), Ok(Duration::from_millis(1250)));
    }

    #[test]
    fn malformed_and_short_intervals_are_refused() {
        for text in [
            "",
            "5",
            "m",
            "5x",
            "5 m",
            "-5m",
            "5m ",
            ".5m",
            "5.m",
            "1d",
            "5ms",
            "1e3m",
            "5M",
            "99999999999999999999999h",
        ] {
            assert!(
                matches!(parse_interval(text), Err(IntervalError::Syntax(_))),
                "{text:?}"
            );
        }
        for text in ["0m", "0s", "0.5s", "0h0m"] {
            assert!(
                matches!(parse_interval(text), Err(IntervalError::TooShort(_))),
                "{text:?}"
            );
        }
    }
}

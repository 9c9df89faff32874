//! Figures in words, shared by every place that shows them to a person (the report, the alert
//! notices): formatting belongs to none of them.

/// Seconds as `42 s`, `12.5 min` or `3.2 h`.
pub fn duration(seconds: f64) -> String {
    if seconds >= 2.0 * 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 120.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

/// `n` and the noun for it: `1 open alert`, `2 open alerts`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(42.0), "42 s");
        assert_eq!(duration(750.0), "12.5 min");
        assert_eq!(duration(4.0 * 3600.0), "4.0 h");
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(plural(1, "day", "days"), "1 day");
        assert_eq!(plural(0, "day", "days"), "0 days");
    }
}

//! How figures are written in the page's cells: percentages, durations, times, and the change
//! against the period before (worse in red, better in green).

use chrono::{DateTime, Utc};

use crate::format::duration;

/// A share as `97.5 %`, or a dash.
pub fn percent(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

/// Seconds in a readable unit, or a dash.
pub fn seconds(value: Option<f64>) -> String {
    value.map_or("–".into(), duration)
}

/// A time in UTC to the minute, or a dash.
pub fn when(value: Option<DateTime<Utc>>) -> String {
    value.map_or("–".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// "+2.1 pp" for rates; worse is red, better green (`higher_is_better` says which way).
pub fn change_pp(now: Option<f64>, before: Option<f64>, higher_is_better: bool) -> String {
    match (now, before) {
        (Some(n), Some(b)) => {
            let d = (n - b) * 100.0;
            classed(d, higher_is_better, format!("{d:+.1} pp"))
        }
        _ => "–".into(),
    }
}

/// "+12 %" for durations and counts.
pub fn change_ratio(now: Option<f64>, before: Option<f64>, higher_is_better: bool) -> String {
    match (now, before) {
        (Some(n), Some(b)) if b > 0.0 => {
            let d = (n / b - 1.0) * 100.0;
            classed(d, higher_is_better, format!("{d:+.0} %"))
        }
        _ => "–".into(),
    }
}

/// `text` in the class of a change for the worse or the better.
fn classed(delta: f64, higher_is_better: bool, text: String) -> String {
    if delta.abs() < 1e-9 {
        return text;
    }
    let class = if (delta > 0.0) == higher_is_better {
        "better"
    } else {
        "worse"
    };
    format!(r#"<span class="{class}">{text}</span>"#)
}

//! Server-side SVG charts for the report: a daily bar chart and a daily line chart, each with
//! axes, gridlines, tick labels, a unit on the y axis and a legend.
//!
//! Written here rather than with a plotting crate: two chart kinds over days need about as much
//! code as configuring one, the output is plain text SVG that needs no font files (text is left
//! to the browser), and nothing is added to the build. Every value written into the SVG is
//! escaped.

use chrono::NaiveDate;

use crate::format::duration;

use super::escape::escape;

/// Chart colours, shared by the sections that draw charts.
pub const BLUE: &str = "#2563eb";
/// Failures.
pub const RED: &str = "#dc2626";
/// Successes.
pub const GREEN: &str = "#16a34a";
/// Neither.
pub const GREY: &str = "#6b7280";

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 42.0;

/// One series of a line chart.
pub struct Series<'a> {
    /// Its name in the legend.
    pub name: &'a str,
    /// Its colour (CSS).
    pub color: &'a str,
    /// One value per day (None: no value that day; the line breaks).
    pub values: Vec<Option<f64>>,
}

/// How the y axis is labelled.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// A share from 0 to 1, shown as percent; the axis runs 0-100 %.
    Percent,
    /// Durations in seconds, shown in seconds, minutes or hours as the largest value suits.
    Duration,
    /// Plain counts.
    Count,
}

impl Unit {
    /// The divisor and the axis unit's label for values up to `max`.
    fn scale(self, max: f64) -> (f64, &'static str) {
        match self {
            Unit::Percent => (0.01, "%"),
            Unit::Count => (1.0, ""),
            Unit::Duration if max >= 2.0 * 3600.0 => (3600.0, "h"),
            Unit::Duration if max >= 120.0 => (60.0, "min"),
            Unit::Duration => (1.0, "s"),
        }
    }
}

/// A "nice" step for about `target` intervals up to `max` (1, 2, 2.5 or 5 times a power of 10).
fn nice_step(max: f64, target: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / target;
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 2.5 {
        2.5
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

fn number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{}", value.round() as i64)
    } else {
        format!("{value:.1}")
    }
}

struct Frame {
    days: usize,
    y_max: f64,
    divisor: f64,
    unit: &'static str,
}

impl Frame {
    fn new(days: usize, unit: Unit, max: f64) -> Self {
        let (divisor, label) = unit.scale(max);
        let y_max = match unit {
            Unit::Percent => 100.0,
            _ => {
                let scaled = (max / divisor).max(1e-9);
                let step = nice_step(scaled, 4.0);
                (scaled / step).ceil().max(1.0) * step
            }
        };
        Frame {
            days,
            y_max,
            divisor,
            unit: label,
        }
    }

    fn plot_width(&self) -> f64 {
        WIDTH - LEFT - RIGHT
    }

    fn plot_height(&self) -> f64 {
        HEIGHT - TOP - BOTTOM
    }

    /// The x of the centre of day `i`.
    fn x(&self, i: usize) -> f64 {
        LEFT + self.plot_width() * (i as f64 + 0.5) / self.days.max(1) as f64
    }

    /// The y of a raw value.
    fn y(&self, value: f64) -> f64 {
        let scaled = (value / self.divisor).clamp(0.0, self.y_max);
        TOP + self.plot_height() * (1.0 - scaled / self.y_max)
    }

    /// Gridlines, y tick labels, the y unit, x labels (at most ten) and the axes.
    fn axes(&self, out: &mut String, days: &[NaiveDate], y_title: &str) {
        let step = nice_step(self.y_max, 4.0);
        let mut tick = 0.0;
        while tick <= self.y_max + 1e-9 {
            let y = TOP + self.plot_height() * (1.0 - tick / self.y_max);
            out.push_str(&format!(
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e3e6ea"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                number(tick)
            ));
            tick += step;
        }
        let unit = if self.unit.is_empty() {
            escape(y_title)
        } else {
            format!("{} ({})", escape(y_title), self.unit)
        };
        out.push_str(&format!(
            r#"<text x="{LEFT}" y="{:.1}" class="axis-title">{unit}</text>"#,
            TOP - 10.0
        ));
        let every = days.len().div_ceil(10).max(1);
        for (i, day) in days.iter().enumerate() {
            if i % every == 0 || i + 1 == days.len() && days.len() <= 10 {
                out.push_str(&format!(
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                    self.x(i),
                    HEIGHT - BOTTOM + 16.0,
                    day.format("%m-%d")
                ));
            }
        }
        out.push_str(&format!(
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#6b7280"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{0:.1}" stroke="#6b7280"/><text x="{2:.1}" y="{3:.1}" text-anchor="middle" class="axis-title">day (reporting time zone)</text>"##,
            HEIGHT - BOTTOM,
            WIDTH - RIGHT,
            LEFT + self.plot_width() / 2.0,
            HEIGHT - 6.0,
        ));
    }
}

fn open(title: &str) -> String {
    format!(
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{0}" class="chart"><title>{0}</title>"#,
        escape(title)
    )
}

/// A bar per day (None: no bar; a day without data).
pub fn bars(
    title: &str,
    y_title: &str,
    unit: Unit,
    days: &[NaiveDate],
    values: &[Option<f64>],
    color: &str,
) -> String {
    let max = values.iter().flatten().fold(0.0f64, |m, v| m.max(*v));
    let frame = Frame::new(days.len(), unit, max);
    let mut out = open(title);
    frame.axes(&mut out, days, y_title);
    let width = (frame.plot_width() / days.len().max(1) as f64 * 0.7).max(1.0);
    for (i, value) in values.iter().enumerate() {
        if let Some(v) = value {
            let y = frame.y(*v);
            out.push_str(&format!(
                r#"<rect x="{:.1}" y="{y:.1}" width="{width:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                frame.x(i) - width / 2.0,
                (HEIGHT - BOTTOM - y).max(0.0),
                escape(color),
                days[i],
                shown(unit, *v)
            ));
        }
    }
    out.push_str("</svg>");
    out
}

/// A daily rate chart (success rate): per day a `color` bar rising to the share, read on the
/// 0-100 % axis; a day at 0 % gets a short `zero_color` mark on the baseline, so it is seen and
/// never read as a full bar; a day without finished runs gets nothing. With two weeks or fewer,
/// each bar carries its value.
pub fn share_bars(
    title: &str,
    y_title: &str,
    days: &[NaiveDate],
    shares: &[Option<f64>],
    (name, color): (&str, &str),
    (zero_name, zero_color): (&str, &str),
) -> String {
    let frame = Frame::new(days.len(), Unit::Percent, 1.0);
    let mut out = open(title);
    frame.axes(&mut out, days, y_title);
    let width = (frame.plot_width() / days.len().max(1) as f64 * 0.7).max(1.0);
    let bottom = HEIGHT - BOTTOM;
    let labelled = days.len() <= 14;
    for (i, share) in shares.iter().enumerate() {
        let Some(share) = share else { continue };
        let share = share.clamp(0.0, 1.0);
        let x = frame.x(i) - width / 2.0;
        let top = frame.y(share);
        let value = shown(Unit::Percent, share);
        if share > 0.0 {
            out.push_str(&format!(
                r#"<rect x="{x:.1}" y="{top:.1}" width="{width:.1}" height="{:.1}" fill="{}"><title>{}: {value} {}</title></rect>"#,
                (bottom - top).max(0.0),
                escape(color),
                days[i],
                escape(name),
            ));
        } else {
            out.push_str(&format!(
                r#"<rect x="{x:.1}" y="{:.1}" width="{width:.1}" height="4" fill="{}"><title>{}: {value} ({})</title></rect>"#,
                bottom - 4.0,
                escape(zero_color),
                days[i],
                escape(zero_name),
            ));
        }
        if labelled {
            // Above a short bar; inside a tall one, in white, clear of the legend above.
            let (y, class) = if share > 0.85 {
                (top + 13.0, "inside")
            } else {
                ((top - 4.0).min(bottom - 8.0), "tick")
            };
            out.push_str(&format!(
                r#"<text x="{:.1}" y="{y:.1}" text-anchor="middle" class="{class}">{}</text>"#,
                frame.x(i),
                number((share * 100.0).round())
            ));
        }
    }
    legend(&mut out, &[(name, color), (zero_name, zero_color)]);
    out.push_str("</svg>");
    out
}

/// The legend, top right: a swatch and a name per entry.
fn legend(out: &mut String, entries: &[(&str, &str)]) {
    // Each entry as wide as its name (about 6 px a character at 11 px), laid out from the right.
    let widths: Vec<f64> = entries
        .iter()
        .map(|(name, _)| 28.0 + 6.0 * name.chars().count() as f64)
        .collect();
    let mut x = WIDTH - RIGHT - widths.iter().sum::<f64>() + 8.0;
    for ((name, color), width) in entries.iter().zip(&widths) {
        out.push_str(&format!(
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="6" fill="{}"/><text x="{:.1}" y="{:.1}" class="legend">{}</text>"#,
            TOP - 17.0,
            escape(color),
            x + 16.0,
            TOP - 11.0,
            escape(name)
        ));
        x += width;
    }
}

/// A line per series over the days, with a dot per value and a legend.
pub fn lines(
    title: &str,
    y_title: &str,
    unit: Unit,
    days: &[NaiveDate],
    series: &[Series<'_>],
    empty: &str,
) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |m, v| m.max(*v));
    let frame = Frame::new(days.len(), unit, max);
    let mut out = open(title);
    if series.iter().all(|s| s.values.iter().all(Option::is_none)) {
        // No value to draw: say so instead of an axis of zeros.
        out.push_str(&format!(
            r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#e3e6ea"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis-title">{}</text><text x="{LEFT}" y="{:.1}" class="axis-title">{}</text></svg>"##,
            frame.plot_width(),
            frame.plot_height(),
            LEFT + frame.plot_width() / 2.0,
            TOP + frame.plot_height() / 2.0,
            escape(empty),
            TOP - 10.0,
            escape(y_title)
        ));
        return out;
    }
    frame.axes(&mut out, days, y_title);
    for s in series {
        let color = escape(s.color);
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in s.values.iter().enumerate() {
            match value {
                Some(v) => {
                    let command = if pen_down { 'L' } else { 'M' };
                    path.push_str(&format!("{command}{:.1} {:.1} ", frame.x(i), frame.y(*v)));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !path.is_empty() {
            out.push_str(&format!(
                r#"<path d="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                path.trim_end()
            ));
        }
        for (i, value) in s.values.iter().enumerate() {
            if let Some(v) = value {
                // A point without a neighbour draws no line: a larger dot, so it is seen.
                let alone = (i == 0 || s.values[i - 1].is_none())
                    && s.values.get(i + 1).is_none_or(Option::is_none);
                out.push_str(&format!(
                    r#"<circle cx="{:.1}" cy="{:.1}" r="{}" fill="{color}"><title>{} {}: {}</title></circle>"#,
                    frame.x(i),
                    frame.y(*v),
                    if alone { "4.5" } else { "2.5" },
                    escape(s.name),
                    days[i],
                    shown(unit, *v)
                ));
            }
        }
    }
    let entries: Vec<(&str, &str)> = series.iter().map(|s| (s.name, s.color)).collect();
    legend(&mut out, &entries);
    out.push_str("</svg>");
    out
}

/// A value as people read it: a percentage, a duration or a count.
pub fn shown(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Percent => format!("{:.1} %", value * 100.0),
        Unit::Count => number(value),
        Unit::Duration => duration(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn march(n: u32) -> Vec<NaiveDate> {
        (1..=n)
            .map(|d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap())
            .collect()
    }

    /// A runtime chart of one series over `days`.
    fn runtime(days: &[NaiveDate], values: Vec<Option<f64>>, empty: &str) -> String {
        lines(
            "runtime",
            "runtime",
            Unit::Duration,
            days,
            &[Series {
                name: "median",
                color: "#111",
                values,
            }],
            empty,
        )
    }

    #[test]
    fn steps_are_round_numbers() {
        assert_eq!(nice_step(100.0, 4.0), 25.0);
        assert_eq!(nice_step(7.0, 4.0), 2.0);
        assert_eq!(nice_step(0.0, 4.0), 1.0);
        assert_eq!(nice_step(3600.0, 4.0), 1000.0);
    }

    #[test]
    fn charts_escape_text_and_draw_every_value() {
        let days = march(3);
        let svg = bars(
            "<dag> & co",
            "success rate",
            Unit::Percent,
            &days,
            &[Some(1.0), None, Some(0.5)],
            "#2563eb",
        );
        assert!(svg.contains("&lt;dag&gt; &amp; co"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("success rate (%)"));
        let svg = runtime(
            &days,
            vec![Some(60.0), Some(600.0), None],
            "no successful run",
        );
        assert!(svg.contains("runtime (min)"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn a_day_at_zero_is_a_mark_not_a_full_bar_and_empty_charts_say_so() {
        let days = march(3);
        let svg = share_bars(
            "rate",
            "success rate",
            &days,
            &[Some(0.0), None, Some(1.0)],
            ("successful share", "#00f"),
            ("no run succeeded", "#f00"),
        );
        // The 0 % day: one 4-pixel mark on the baseline, in the zero colour.
        assert!(
            svg.contains(r##"height="4" fill="#f00"><title>2025-03-01: 0.0 % (no run succeeded)"##),
            "{svg}"
        );
        assert!(!svg.contains(r##"fill="#f00"><title>2025-03-03"##), "{svg}");
        let empty = runtime(
            &days,
            vec![None, None, None],
            "no successful run in the period",
        );
        assert!(empty.contains("no successful run in the period"), "{empty}");
        assert!(
            !empty.contains(r#"class="tick""#),
            "no axis of zeros: {empty}"
        );
        let alone = runtime(&days, vec![None, Some(60.0), None], "-");
        assert!(alone.contains(r#"r="4.5""#), "{alone}");
    }
}

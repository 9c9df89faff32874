//! Escaping for HTML and SVG, used by the page, every section and the charts; and isolation of
//! names that come from Airflow or the user (DAG, task, run, instance, test names), so a
//! right-to-left override in one cannot reorder the report's own text after it.

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A name for HTML text: escaped and isolated in `<bdi>`.
pub fn name(text: &str) -> String {
    format!("<bdi>{}</bdi>", escape(text))
}

/// A name inside text that is escaped later (an SVG title or label): isolated between Unicode's
/// first-strong isolate and pop-directional isolate.
pub fn isolate(text: &str) -> String {
    format!("\u{2068}{text}\u{2069}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(name("a\u{202e}<b>"), "<bdi>a\u{202e}&lt;b&gt;</bdi>");
        assert_eq!(isolate("x"), "\u{2068}x\u{2069}");
    }
}

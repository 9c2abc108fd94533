//! What a text field or query value may hold.
//!
//! PostgreSQL refuses a NUL byte in `TEXT` outright (an error, so a 500 if it got that
//! far), and the other C0/C1 control characters only ever arrive by mistake or malice:
//! they break logs, terminals and CSV exports downstream. So every text a client sends
//! is checked here before it goes anywhere. Multi-line fields (a product description)
//! may keep the layout characters tab, line feed and carriage return.

/// The layout characters a multi-line field may keep.
const LAYOUT: [char; 3] = ['\t', '\n', '\r'];

/// True when `text` holds a control character (Unicode category Cc: U+0000..=U+001F
/// and U+007F..=U+009F).
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Like [`has_control`], but tab, line feed and carriage return are allowed.
pub fn has_control_besides_layout(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !LAYOUT.contains(&c))
}

/// The message every refused field carries.
pub const CONTROL_MESSAGE: &str = "must not contain control characters";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_layout_is_allowed_where_asked() {
        assert!(has_control("a\u{0}b"));
        assert!(has_control("\u{7f}"));
        assert!(has_control("\u{85}"));
        assert!(has_control("a\tb"));
        assert!(!has_control("Grüße, 東京 🚀"));
        assert!(!has_control_besides_layout("line one\r\n\tline two"));
        assert!(has_control_besides_layout("bell\u{7}"));
    }
}

//! What tests read from programs' output.

/// `text` without the terminal's colour codes (ESC `[` ... `m`), which the
/// services' logs and Docker's classic builder put around what they print.
pub fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::without_colours;

    #[test]
    fn colour_codes_go_and_the_text_stays() {
        assert_eq!(
            without_colours("\u{1b}[2mdelivery\u{1b}[0m failed \u{1b}[3mseq\u{1b}[0m=4"),
            "delivery failed seq=4"
        );
    }
}

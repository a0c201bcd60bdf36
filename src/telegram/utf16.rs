//! Telegram measures entity offsets and lengths in UTF-16 code units, not bytes or chars.

/// Length of `s` in UTF-16 code units, as Telegram counts it.
pub fn len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Offset, in UTF-16 code units, of the byte index `byte` inside `s`.
///
/// `byte` must lie on a char boundary (it always does when it comes from `str::find`).
pub fn offset_of(s: &str, byte: usize) -> usize {
    len(&s[..byte])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_surrogate_pairs_as_two() {
        assert_eq!(len("abc"), 3);
        assert_eq!(len("привет"), 6);
        assert_eq!(len("日本語"), 3);
        assert_eq!(len("😀"), 2);
        assert_eq!(len("👍🏽"), 4);
        assert_eq!(offset_of("😀 /x", 5), 3);
    }
}

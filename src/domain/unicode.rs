//! Unicode rules against spoofing, keyed by the kind of field: text that shows nothing (only
//! zero-width or filler characters), bidirectional controls that reorder whatever is shown after
//! them (a name or title ending in U+202E turns the rest of the line around; a file name
//! `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`), and addresses that mix look-alike
//! scripts (a Cyrillic `а` in `pаypal@example.com`), refused by the restriction levels of
//! Unicode Technical Standard #39.

use unicode_security::{RestrictionLevel, RestrictionLevelDetection};

/// Characters that show nothing: Unicode's `Default_Ignorable_Code_Point` property
/// (DerivedCoreProperties.txt, Unicode 16.0, © Unicode, Inc., Unicode License v3), and the
/// braille pattern blank, which is not ignorable but draws an empty cell.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Whether `c` shows nothing by itself (zero-width spaces and joiners, fillers, variation
/// selectors, bidirectional controls, tags).
pub fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|(first, last)| (*first..=*last).contains(&c))
}

/// The bidirectional controls that change the order of what follows them until their end or
/// the paragraph's: embeddings, overrides and isolates. The marks (LRM, RLM, ALM) only weigh
/// on neutral characters next to them and are kept.
pub fn is_bidi_reordering(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `text` has at least one character that shows something.
pub fn shows_something(text: &str) -> bool {
    text.chars().any(|c| !c.is_whitespace() && !is_invisible(c))
}

/// The rule for a short label shown among others (a first or last name, a group's title): it
/// shows something, and no bidirectional control reorders what is shown after it. Zero-width
/// joiners and the like stay allowed inside (emoji sequences, Persian), just not alone.
pub fn label_rule(label: &str) -> Result<(), &'static str> {
    if !shows_something(label) {
        return Err("must contain visible characters");
    }
    if label.chars().any(is_bidi_reordering) {
        return Err("must not contain bidirectional control characters");
    }
    Ok(())
}

/// `text` without any invisible character or bidirectional control: for a file name, which is
/// shown but never typed back.
pub fn without_invisibles(text: &str) -> String {
    text.chars().filter(|c| !is_invisible(*c)).collect()
}

/// Whether one part of an address (an e-mail local part or domain) is written in one script, or
/// in one of the script combinations UTS #39 calls highly restrictive (Latin with Han and kana,
/// Latin with Han and Hangul, Latin with Han and Bopomofo), and holds nothing invisible.
/// Punctuation counts for no script; a character outside UTS #39's identifier profile (an emoji,
/// a symbol) fails.
pub fn is_unmixed(part: &str) -> bool {
    if part.chars().any(is_invisible) {
        return false;
    }
    let letters: String = part.chars().filter(|c| c.is_alphanumeric() || !c.is_ascii()).collect();
    letters.as_str().detect_restriction_level() <= RestrictionLevel::HighlyRestrictive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_width_and_filler_characters_show_nothing() {
        for blank in ["\u{200B}", "\u{200B}\u{200C}\u{200D}", " \u{2060} ", "\u{3164}", "\u{2800}\u{2800}", "\u{FEFF}"]
        {
            assert!(!shows_something(blank), "{blank:?}");
            assert_eq!(label_rule(blank), Err("must contain visible characters"), "{blank:?}");
        }
        assert!(shows_something("a\u{200B}"));
        assert!(shows_something("👩\u{200D}💻"), "an emoji sequence shows");
        assert_eq!(label_rule("می\u{200C}خواهم"), Ok(()), "ZWNJ inside Persian is fine");
    }

    #[test]
    fn labels_may_not_reorder_what_follows_them() {
        for spoof in ["admin\u{202E}", "\u{2067}team", "a\u{202A}b\u{202C}"] {
            assert_eq!(label_rule(spoof), Err("must not contain bidirectional control characters"), "{spoof:?}");
        }
        assert_eq!(label_rule("שלום\u{200F}!"), Ok(()), "a right-to-left mark is not a reordering");
        assert_eq!(label_rule("Иван Smith"), Ok(()), "names may mix scripts");
    }

    #[test]
    fn file_names_lose_what_would_disguise_them() {
        assert_eq!(without_invisibles("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(without_invisibles("re\u{200B}port.pdf"), "report.pdf");
    }

    #[test]
    fn address_parts_are_single_script_or_a_highly_restrictive_mix() {
        for fine in ["john.smith+tag", "иван", "δοκιμή", "山田太郎", "tanaka山田たろう", "example-mail"]
        {
            assert!(is_unmixed(fine), "{fine:?}");
        }
        // A Cyrillic а, a Greek ο among Latin letters; a zero-width space; an emoji.
        for spoof in ["pаypal", "gοogle", "pay\u{200B}pal", "me😀"] {
            assert!(!is_unmixed(spoof), "{spoof:?}");
        }
    }
}

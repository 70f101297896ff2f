//! Message search as both backends run it: the folded form every text is indexed in and every
//! query compared in, the rules a query must meet, and the snippet that shows a match.
//!
//! Folding happens here, not in the database, so SQLite and PostgreSQL compare the same strings
//! (PostgreSQL's `lower()` depends on the server's locale, SQLite's folds ASCII only) and a match
//! is a plain substring of the folded text in any script: no word splitting, so Japanese and
//! Chinese phrases without spaces are found like any other.

use serde::Serialize;
use utoipa::ToSchema;

/// Characters a query needs to be looked up in the index; a shorter one only within one chat.
pub const MIN_INDEXED: usize = 3;
/// Longest query: longer than any phrase worth searching for, short of a message.
pub const MAX_QUERY: usize = 200;
/// Characters of context a snippet keeps before the match.
const BEFORE: usize = 40;
/// Characters of context a snippet keeps after the match.
const AFTER: usize = 80;

/// Lower case by Unicode's rules, one character at a time, with final sigma taken as sigma: the
/// form a text is indexed in and a query compared in. Per character, so that a position in the
/// folded text leads back to one in the original (see [`snippet`]).
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        push_folded(&mut folded, c);
    }
    folded
}

fn push_folded(out: &mut String, c: char) {
    match c {
        'ς' => out.push('σ'),
        c => out.extend(c.to_lowercase()),
    }
}

/// A query as the search runs it: folded, 1 to [`MAX_QUERY`] characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(String);

impl SearchQuery {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if raw.trim().is_empty() {
            return Err("must not be blank".to_owned());
        }
        if len > MAX_QUERY {
            return Err(format!("must be at most {MAX_QUERY} characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        Ok(Self(fold(raw)))
    }

    /// The folded text to look for.
    pub fn folded(&self) -> &str {
        &self.0
    }

    /// Whether it is long enough for the index (three characters make a trigram).
    pub fn indexed(&self) -> bool {
        self.0.chars().count() >= MIN_INDEXED
    }
}

/// Where a message matched: the matching part as written, with some context on either side
/// (`…` where the text goes on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"before": "…we could meet at the ", "match": "Café", "after": " on Rue Lepic at eight."}))]
pub struct Snippet {
    pub before: String,
    #[serde(rename = "match")]
    pub matched: String,
    pub after: String,
}

/// The first match of `query` in `text`, in the text's own letters; `None` if it does not occur.
pub fn snippet(text: &str, query: &SearchQuery) -> Option<Snippet> {
    // For each character of the original, where its folded form starts.
    let chars: Vec<char> = text.chars().collect();
    let mut folded = String::with_capacity(text.len());
    let mut starts = Vec::with_capacity(chars.len() + 1);
    for &c in &chars {
        starts.push(folded.len());
        push_folded(&mut folded, c);
    }
    starts.push(folded.len());
    let at = folded.find(query.folded())?;
    let end = at + query.folded().len();
    // The original characters whose folded forms the match touches.
    let first = starts.partition_point(|&s| s <= at) - 1;
    let last = starts.partition_point(|&s| s < end).max(first + 1);
    let context_start = first.saturating_sub(BEFORE);
    let context_end = (last + AFTER).min(chars.len());
    let mut before: String = chars[context_start..first].iter().collect();
    if context_start > 0 {
        before.insert(0, '…');
    }
    let mut after: String = chars[last..context_end].iter().collect();
    if context_end < chars.len() {
        after.push('…');
    }
    Some(Snippet { before, matched: chars[first..last].iter().collect(), after })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> SearchQuery {
        SearchQuery::parse(raw).unwrap()
    }

    #[test]
    fn folding_lowers_every_script_and_keeps_the_rest() {
        assert_eq!(fold("Grüße ПРИВЕТ ΟΔΟΣ 東京タワー"), "grüße привет οδοσ 東京タワー");
        assert_eq!(fold("ὀδός"), fold("ὈΔΌΣ"));
    }

    #[test]
    fn queries_are_checked_and_folded() {
        assert_eq!(query("Café").folded(), "café");
        assert!(!query("東京").indexed() && query("東京タ").indexed());
        assert!(SearchQuery::parse("   ").is_err());
        assert!(SearchQuery::parse("a\u{0}b").is_err());
        assert!(SearchQuery::parse(&"x".repeat(MAX_QUERY + 1)).is_err());
    }

    #[test]
    fn a_snippet_marks_the_match_in_the_original_letters() {
        let text = "Shall we meet at the CAFÉ on Rue Lepic?";
        let found = snippet(text, &query("café")).unwrap();
        assert_eq!(found.matched, "CAFÉ");
        assert_eq!(format!("{}{}{}", found.before, found.matched, found.after), text);
        let cjk = snippet("明日は東京タワーに行きます", &query("東京タワー")).unwrap();
        assert_eq!(
            (cjk.before.as_str(), cjk.matched.as_str(), cjk.after.as_str()),
            ("明日は", "東京タワー", "に行きます")
        );
        assert_eq!(snippet("nothing here", &query("zzz")), None);
    }

    #[test]
    fn a_long_text_is_cut_around_the_match() {
        let text = format!("{}needle{}", "a".repeat(100), "b".repeat(100));
        let found = snippet(&text, &query("NEEDLE")).unwrap();
        assert_eq!(found.before, format!("…{}", "a".repeat(BEFORE)));
        assert_eq!(found.after, format!("{}…", "b".repeat(AFTER)));
    }

    #[test]
    fn a_letter_that_folds_to_two_maps_back_to_itself() {
        // 'İ' lowers to "i\u{307}": a match of either part shows the whole letter.
        assert_eq!(snippet("İstanbul", &query("i\u{307}stan")).unwrap().matched, "İstan");
        assert_eq!(snippet("İstanbul", &query("\u{307}st")).unwrap().matched, "İst");
    }
}

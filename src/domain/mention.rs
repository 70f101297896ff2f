//! Mentions: `@username` in a message's text.

use super::Username;

/// Most distinct people one message may mention; the rest are left as plain text.
pub const MAX_PER_MESSAGE: usize = 50;

/// The username keys (see [`Username::key`]) a text mentions, each once, in order of first use.
///
/// A mention is `@` at the start of the text or after a character that cannot be part of a name
/// (so `ann@example.org` mentions nobody), followed by a valid username; a final `.` is taken as
/// the end of the sentence (`thanks, @bob.`). Whether the name belongs to a member of the chat is
/// the store's to tell.
pub fn mentioned(text: &str) -> Vec<String> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let mut keys: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && previous.is_none_or(|p| !(name_char(p) || p == '@'));
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let end = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches('.');
        let Ok(username) = Username::parse(name) else { continue };
        let key = username.key();
        if !keys.contains(&key) {
            keys.push(key);
            if keys.len() == MAX_PER_MESSAGE {
                break;
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_after_an_at_sign_are_mentions() {
        assert_eq!(mentioned("@Ann and @bob_2, see @ann."), ["ann", "bob_2"]);
        assert_eq!(mentioned("(@carol) @dave.smith!"), ["carol", "dave.smith"]);
        assert_eq!(mentioned("привет @Ёжик @eve"), ["eve"]);
    }

    #[test]
    fn addresses_and_short_or_bad_names_are_not() {
        assert!(mentioned("mail ann@example.org or @@bob, @ab, @123, @").is_empty());
    }

    #[test]
    fn a_message_mentions_at_most_fifty_people() {
        let text: String = (0..80).map(|i| format!("@user{i} ")).collect();
        assert_eq!(mentioned(&text).len(), MAX_PER_MESSAGE);
    }
}

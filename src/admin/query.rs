//! The admin's query strings, read once for the JSON API and the pages alike: every problem is
//! keyed by its parameter, and a blank value (an empty field of a search form) counts as absent.

use std::collections::HashMap;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use super::{DEFAULT_PAGE, MAX_PAGE};
use crate::domain::{ChatId, MessageId, UserId};
use crate::error::{AppError, FieldErrors};
use crate::store::AuditFilter;

/// `GET …/users`: `q`, keyset `after`, `limit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQuery {
    pub q: Option<String>,
    pub after: Option<UserId>,
    pub limit: u64,
}

/// `GET …/chats`: keyset `after`, `limit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatQuery {
    pub after: Option<ChatId>,
    pub limit: u64,
}

/// `GET …/messages`: `chat_id`, `author_id`, keyset `before`, `limit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageQuery {
    pub chat_id: Option<ChatId>,
    pub author_id: Option<UserId>,
    pub before: Option<MessageId>,
    pub limit: u64,
}

/// `GET …/audit`: the filter, keyset `before`, `limit`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub before: Option<Uuid>,
    pub limit: u64,
}

/// A query string's parameters, read one by one; problems pile up until [`Params::done`].
struct Params {
    values: HashMap<String, String>,
    errors: FieldErrors,
}

impl Params {
    fn new(raw: Option<&str>) -> Result<Self, AppError> {
        let pairs = crate::web::query_pairs(raw)?;
        let values = pairs.into_iter().filter(|(_, value)| !value.trim().is_empty()).collect();
        Ok(Self { values, errors: FieldErrors::new() })
    }

    fn text(&mut self, name: &str, max: usize) -> Option<String> {
        let value = self.values.get(name)?.trim().to_owned();
        if value.chars().count() > max {
            self.errors.insert(name.into(), format!("must be at most {max} characters"));
            return None;
        }
        Some(value)
    }

    fn id<T: From<Uuid>>(&mut self, name: &str, what: &str) -> Option<T> {
        let raw = self.values.get(name)?;
        match raw.trim().parse::<Uuid>() {
            Ok(id) => Some(id.into()),
            Err(_) => {
                self.errors.insert(name.into(), format!("must be {what}"));
                None
            }
        }
    }

    /// RFC 3339 (`2026-12-01T09:30:00Z`), or a browser's `datetime-local` (`2026-12-01T09:30`), in UTC.
    fn time(&mut self, name: &str) -> Option<OffsetDateTime> {
        let raw = self.values.get(name)?.trim().to_owned();
        let local = format_description!("[year]-[month]-[day]T[hour]:[minute]");
        let local_seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        let parsed = OffsetDateTime::parse(&raw, &Rfc3339).ok().or_else(|| {
            PrimitiveDateTime::parse(&raw, local)
                .or_else(|_| PrimitiveDateTime::parse(&raw, local_seconds))
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        });
        if parsed.is_none() {
            self.errors.insert(name.into(), "must be a time such as 2026-12-01T09:30:00Z".into());
        }
        parsed
    }

    fn limit(&mut self) -> u64 {
        let Some(raw) = self.values.get("limit") else { return DEFAULT_PAGE };
        match raw.trim().parse::<u64>() {
            Ok(n @ 1..=MAX_PAGE) => n,
            _ => {
                self.errors.insert("limit".into(), format!("must be a whole number from 1 to {MAX_PAGE}"));
                DEFAULT_PAGE
            }
        }
    }

    fn done<T>(self, value: T) -> Result<T, AppError> {
        if self.errors.is_empty() { Ok(value) } else { Err(AppError::invalid_fields(self.errors)) }
    }
}

/// Longest search text: no identifier is longer.
const MAX_SEARCH: usize = 320;

impl UserQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        let mut p = Params::new(raw)?;
        let query = Self { q: p.text("q", MAX_SEARCH), after: p.id("after", "a user id"), limit: p.limit() };
        p.done(query)
    }
}

impl ChatQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        let mut p = Params::new(raw)?;
        let query = Self { after: p.id("after", "a chat id"), limit: p.limit() };
        p.done(query)
    }
}

impl MessageQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        let mut p = Params::new(raw)?;
        let query = Self {
            chat_id: p.id("chat_id", "a chat id"),
            author_id: p.id("author_id", "a user id"),
            before: p.id("before", "a message id"),
            limit: p.limit(),
        };
        p.done(query)
    }
}

impl AuditQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        let mut p = Params::new(raw)?;
        let filter = AuditFilter {
            entity: p.text("entity", 64),
            entity_id: p.text("entity_id", 128),
            actor_id: p.id("actor_id", "a user id"),
            action: p.text("action", 64),
            since: p.time("since"),
            until: p.time("until"),
        };
        let query = Self { filter, before: p.id("before", "an audit entry id"), limit: p.limit() };
        p.done(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: AppError) -> Vec<String> {
        match err {
            AppError::Fields { fields, .. } => fields.into_keys().collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn blank_parameters_are_absent() {
        let query = MessageQuery::parse(Some("chat_id=&author_id=+&before=")).unwrap();
        assert_eq!(query, MessageQuery { limit: DEFAULT_PAGE, ..MessageQuery::default() });
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let err = AuditQuery::parse(Some("actor_id=x&since=yesterday&limit=0&before=1")).unwrap_err();
        let mut names = fields(err);
        names.sort();
        assert_eq!(names, ["actor_id", "before", "limit", "since"]);
    }

    #[test]
    fn times_are_rfc3339_or_a_browsers_local_time_in_utc() {
        let query = AuditQuery::parse(Some("since=2026-12-01T09:30:00%2B01:00&until=2026-12-01T10:00")).unwrap();
        assert_eq!(query.filter.since.unwrap().unix_timestamp(), 1_796_113_800);
        assert_eq!(query.filter.until.unwrap().unix_timestamp(), 1_796_119_200);
    }
}

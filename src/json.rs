//! JSON input read into types, every refusal a JSend fail: malformed JSON → 400, well-formed
//! JSON of the wrong shape → 422 keyed by the field at fault (`{"password": "is required"}`).
//! HTTP bodies (`http::extract::ApiJson`) and socket commands (`gateway`) both read through it.

use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::AppError;

/// Reads a JSON document into `T`; trailing characters after the value are refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(shape_error)?;
    deserializer
        .end()
        .map_err(|_| AppError::bad_request("invalid_json", "the body has trailing characters after the JSON value"))?;
    Ok(value)
}

/// Reads an already parsed JSON value (a socket payload) with the same field-keyed errors.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

fn shape_error(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        Category::Data => data_error(&path, &inner),
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::bad_request("invalid_json", format!("the body is not valid JSON: {inner}"))
        }
    }
}

/// Keys a shape error by its field: serde reports a missing field at the parent, so take the
/// name from the message there.
fn data_error(path: &str, err: &serde_json::Error) -> AppError {
    let message = err.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        let key = if path == "." { field.to_owned() } else { format!("{path}.{field}") };
        return AppError::invalid(&key, "is required");
    }
    let key = if path == "." { "body" } else { path };
    AppError::invalid(key, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Refusal;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: Option<u8>,
    }

    fn fields(err: AppError) -> (Option<Refusal>, Vec<String>) {
        match err {
            AppError::Fields { kind, fields } => (Some(kind), fields.into_keys().collect()),
            other => (other.refusal(), vec![]),
        }
    }

    #[test]
    fn wrong_types_are_keyed_by_field() {
        let err = parse_json::<Body>(br#"{"name": "a", "age": "old"}"#).unwrap_err();
        assert_eq!(fields(err), (Some(Refusal::Unprocessable), vec!["age".to_owned()]));
    }

    #[test]
    fn missing_fields_are_keyed_by_field() {
        let err = parse_json::<Body>(br#"{"age": 3}"#).unwrap_err();
        assert_eq!(fields(err), (Some(Refusal::Unprocessable), vec!["name".to_owned()]));
    }

    #[test]
    fn malformed_json_and_trailing_garbage_are_bad_requests() {
        for body in [&br#"{"name": "#[..], b"not json", br#"{"name":"a"} extra"#, b""] {
            assert_eq!(parse_json::<Body>(body).unwrap_err().refusal(), Some(Refusal::BadRequest));
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err().refusal(), Some(Refusal::BadRequest));
    }

    #[test]
    fn a_non_object_body_is_keyed_as_body() {
        let err = parse_json::<Body>(br#""just a string""#).unwrap_err();
        assert_eq!(fields(err), (Some(Refusal::Unprocessable), vec!["body".to_owned()]));
    }
}

//! Reading fields out of a JSON body so that every bad field is reported, not just the first.

use super::error::Refusals;
use serde_json::Value;

/// A JSON object being read, with the path of its fields (`events[3].learner.`).
pub struct Reader<'a> {
    value: &'a Value,
    prefix: String,
}

impl<'a> Reader<'a> {
    pub fn new(value: &'a Value, prefix: impl Into<String>) -> Reader<'a> {
        Reader {
            value,
            prefix: prefix.into(),
        }
    }

    /// Checks the value is an object; an input that is not is one refusal for the whole.
    pub fn object(value: &'a Value, path: &str, refusals: &mut Refusals) -> Option<Reader<'a>> {
        if value.is_object() {
            Some(Reader::new(value, path))
        } else {
            let field = if path.is_empty() { "body" } else { path };
            refusals.add(field, "invalid_type", "must be a JSON object");
            None
        }
    }

    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    /// A field as sent (absent or null is `None`), for shapes the readers here do not cover.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    /// A required string, trimmed, of 1 to `max` characters without control characters.
    pub fn text(&self, key: &str, max: usize, refusals: &mut Refusals) -> Option<String> {
        match self.get(key) {
            None => {
                refusals.add(&self.path(key), "required", "is required");
                None
            }
            Some(value) => self.checked_text(key, value, max, refusals),
        }
    }

    /// An optional string: absent or null is `Some(None)`.
    pub fn optional_text(
        &self,
        key: &str,
        max: usize,
        refusals: &mut Refusals,
    ) -> Option<Option<String>> {
        match self.get(key) {
            None => Some(None),
            Some(value) => self.checked_text(key, value, max, refusals).map(Some),
        }
    }

    fn checked_text(
        &self,
        key: &str,
        value: &Value,
        max: usize,
        refusals: &mut Refusals,
    ) -> Option<String> {
        let Some(text) = value.as_str() else {
            refusals.add(&self.path(key), "invalid_type", "must be a string");
            return None;
        };
        let text = text.trim();
        if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
            refusals.add(
                &self.path(key),
                "invalid_length",
                format!("must be 1 to {max} printable characters"),
            );
            return None;
        }
        Some(text.to_owned())
    }

    /// A required whole number within `range`.
    pub fn integer(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        refusals: &mut Refusals,
    ) -> Option<i64> {
        let path = self.path(key);
        match self.get(key).map(|v| v.as_i64()) {
            None => refusals.add(&path, "required", "is required"),
            Some(Some(n)) if range.contains(&n) => return Some(n),
            Some(_) => refusals.add(
                &path,
                "out_of_range",
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            ),
        }
        None
    }

    /// A nested object, or a refusal naming it.
    pub fn nested(&self, key: &str, refusals: &mut Refusals) -> Option<Reader<'a>> {
        match self.get(key) {
            None => {
                refusals.add(&self.path(key), "required", "is required");
                None
            }
            Some(value) => Reader::object(value, &self.path(key), refusals),
        }
    }
}

/// A code of a platform, payer or course: 1 to 64 of letters, digits, `-`, `_` and `.`.
pub fn code(reader: &Reader, key: &str, refusals: &mut Refusals) -> Option<String> {
    let text = reader.text(key, 64, refusals)?;
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some(text)
    } else {
        refusals.add(
            &reader.path(key),
            "invalid_code",
            "may hold only letters, digits, '-', '_' and '.'",
        );
        None
    }
}

//! Every JSON answer a test receives through the harness is checked against the OpenAPI
//! document's schema for its operation and status, so a handler whose answer differs from the
//! document fails a test.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(subsidy_gateway::http::api_doc()).unwrap())
}

/// The document's path template a concrete path matches (`/v1/invoices/{id}`).
fn template(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    document()["paths"]
        .as_object()?
        .keys()
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        })
        .map(String::as_str)
}

/// A validator per schema, built once: the schema with the document's components beside it, so
/// that its `#/components/...` references resolve.
fn validate(schema: &Value, answer: &Value) -> Result<(), String> {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let key = schema.to_string();
    let validator = {
        let mut cache = VALIDATORS.get_or_init(Default::default).lock().unwrap();
        cache
            .entry(key)
            .or_insert_with(|| {
                let rooted = json!({
                    "allOf": [schema],
                    "components": document()["components"],
                });
                std::sync::Arc::new(jsonschema::validator_for(&rooted).expect("a valid schema"))
            })
            .clone()
    };
    let errors: Vec<String> = validator
        .iter_errors(answer)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Panics when a JSON answer is not what the document says. Paths the document does not hold
/// (unknown routes, `/metrics`) and methods it does not serve (405) are not its answers.
pub fn check(method: &Method, path: &str, status: StatusCode, content_type: &str, answer: &Value) {
    let Some(template) = template(path) else {
        return;
    };
    let operation = &document()["paths"][template][method.as_str().to_lowercase()];
    if operation.is_null() {
        return;
    }
    let responses = &operation["responses"];
    let response = match &responses[status.as_str()] {
        Value::Null => &responses["default"],
        documented => documented,
    };
    assert!(
        !response.is_null(),
        "{method} {template} answered {status}, which the document does not list"
    );
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    let Some(content) = response["content"].as_object() else {
        return;
    };
    if !media_type.ends_with("json") {
        return;
    }
    let schema = &content
        .get(media_type)
        .unwrap_or_else(|| {
            panic!("{method} {template} answered {status} as {media_type}, which the document does not list")
        })["schema"];
    if let Err(errors) = validate(schema, answer) {
        panic!("{method} {template} answered {status} unlike the document: {errors}\n{answer:#}");
    }
}

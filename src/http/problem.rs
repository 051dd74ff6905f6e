//! The HTTP layer's one error type, mapped once to RFC 9457 problem+json with stable codes.
//! Causes are logged here; clients get the code and a safe sentence.

use crate::service::{FieldError, ServiceError};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    Unauthenticated(String),
    Forbidden,
    RateLimited {
        retry_after_secs: u64,
    },
    PayloadTooLarge,
    MalformedBody(String),
    UnsupportedMediaType,
    RouteNotFound,
    /// The path exists; the method does not. Carries the `Allow` header's value.
    MethodNotAllowed(String),
    /// The token endpoint refuses, as RFC 6749 §5.2 says.
    Token(TokenRefusal),
}

/// A refusal of the token endpoint: answered with RFC 6749 §5.2's `error` and
/// `error_description` beside the problem fields, as `application/json`.
#[derive(Debug)]
pub struct TokenRefusal {
    /// RFC 6749's error code.
    pub error: &'static str,
    /// The gateway's stable code (the same, or a finer one such as `platform_suspended`).
    pub code: &'static str,
    pub detail: String,
    /// A 401: it carries a `WWW-Authenticate` challenge (RFC 7235), naming Basic.
    pub challenge: bool,
}

impl TokenRefusal {
    pub fn new(error: &'static str, detail: impl Into<String>) -> TokenRefusal {
        TokenRefusal {
            error,
            code: error,
            detail: detail.into(),
            challenge: false,
        }
    }

    pub fn invalid_client(detail: &str) -> TokenRefusal {
        TokenRefusal {
            challenge: true,
            ..TokenRefusal::new("invalid_client", detail)
        }
    }

    fn status(&self) -> StatusCode {
        if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        }
    }
}

impl From<TokenRefusal> for ApiError {
    fn from(refusal: TokenRefusal) -> ApiError {
        ApiError::Token(refusal)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        ApiError::Service(e)
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub errors: Vec<FieldError>,
    /// The token endpoint only: RFC 6749 §5.2's error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// The token endpoint only: the same as `detail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Refusals that are conflicts with what is stored, not malformed input.
fn status_of_refusal(code: &str) -> StatusCode {
    match code {
        "event_id_conflict" | "certificate_already_used" | "voucher_exists" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl ApiError {
    /// Status, code, safe sentence and field errors; a failure's cause goes to the log here,
    /// for the API's problems and the console's pages alike.
    pub(super) fn logged_parts(&self) -> (StatusCode, &'static str, String, Vec<FieldError>) {
        match self {
            ApiError::Service(ServiceError::Store(cause)) => {
                tracing::error!(error = %cause, "storage failure")
            }
            ApiError::Service(cause @ (ServiceError::Export(_) | ServiceError::Internal(_))) => {
                tracing::error!(error = %cause, "internal failure")
            }
            _ => {}
        }
        self.parts()
    }

    fn parts(&self) -> (StatusCode, &'static str, String, Vec<FieldError>) {
        match self {
            ApiError::Service(ServiceError::Invalid(errors)) => {
                let first = errors.first().map_or("validation_failed", |e| e.code);
                let (status, code) = if errors.iter().all(|e| e.code == first) {
                    (status_of_refusal(first), first)
                } else {
                    (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                };
                let detail = match errors.as_slice() {
                    [one] => format!("{} {}", one.field, one.message),
                    many => format!("{} fields were refused; nothing was stored", many.len()),
                };
                (status, code, detail, errors.clone())
            }
            ApiError::Service(ServiceError::NotFound(what)) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such {what}"),
                vec![],
            ),
            ApiError::Service(ServiceError::Conflict { code, detail }) => {
                (StatusCode::CONFLICT, code, detail.clone(), vec![])
            }
            ApiError::Service(ServiceError::Forbidden { code, detail }) => {
                (StatusCode::FORBIDDEN, code, detail.clone(), vec![])
            }
            ApiError::Service(ServiceError::Unauthenticated(detail))
            | ApiError::Unauthenticated(detail) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                detail.clone(),
                vec![],
            ),
            ApiError::Service(ServiceError::Store(cause)) if cause.is_unavailable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is not reachable; nothing was stored, retry later".into(),
                vec![],
            ),
            ApiError::Service(ServiceError::Busy) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ingest_queue_full",
                "too many completions are waiting to be metered; nothing was stored, retry later"
                    .into(),
                vec![],
            ),
            ApiError::Service(
                ServiceError::Store(_) | ServiceError::Export(_) | ServiceError::Internal(_),
            ) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the request failed; nothing was stored".into(),
                vec![],
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "this role may not use this operation".into(),
                vec![],
            ),
            ApiError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry after {retry_after_secs} s"),
                vec![],
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body exceeds the size limit".into(),
                vec![],
            ),
            ApiError::MalformedBody(detail) => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                detail.clone(),
                vec![],
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json".into(),
                vec![],
            ),
            ApiError::RouteNotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such resource".into(),
                vec![],
            ),
            ApiError::MethodNotAllowed(allowed) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this resource answers {allowed}"),
                vec![],
            ),
            ApiError::Token(refusal) => (
                refusal.status(),
                refusal.code,
                refusal.detail.clone(),
                vec![],
            ),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (status, code, detail, _) = self.parts();
        write!(f, "{status} {code}: {detail}")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, detail, errors) = self.logged_parts();
        let token = match self {
            ApiError::Token(refusal) => Some(refusal),
            _ => None,
        };
        let problem = Problem {
            kind: format!("https://subsidy-gateway.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            error_description: token.map(|_| detail.clone()),
            error: token.map(|refusal| refusal.error),
            detail,
            code: code.to_owned(),
            errors,
        };
        let mut response = HttpResponse::build(status);
        // OAuth 2.0 clients read the token endpoint's errors as JSON (RFC 6749 §5.2).
        let content_type = match token {
            Some(_) => "application/json",
            None => "application/problem+json",
        };
        response.insert_header((header::CONTENT_TYPE, content_type));
        if token.is_some() {
            response.insert_header((header::CACHE_CONTROL, "no-store"));
        }
        if token.is_some_and(|refusal| refusal.challenge) {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"subsidy-gateway\", charset=\"UTF-8\"",
            ));
        }
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if let ApiError::MethodNotAllowed(allowed) = self {
            response.insert_header((header::ALLOW, allowed.as_str()));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.body(serde_json::to_string(&problem).expect("problem serialises"))
    }
}

/// Maps actix's JSON extractor failures: 413 over the limit, 415 without JSON, 400 otherwise.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Deserialize(e) => ApiError::MalformedBody(format!("body is not valid JSON: {e}")),
        other => ApiError::MalformedBody(format!("body could not be read: {other}")),
    };
    api.into()
}

/// Query strings that do not parse are refused like bodies.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::Service(ServiceError::invalid(
        "query",
        "invalid_query",
        err.to_string(),
    ))
    .into()
}

/// Path segments that do not parse.
pub fn path_error(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::Service(ServiceError::invalid(
        "path",
        "invalid_path",
        err.to_string(),
    ))
    .into()
}

pub fn retry_after(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

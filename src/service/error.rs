//! The service layer's one error type. The HTTP layer maps it to problem+json, once.

use crate::store::StoreError;

/// One refused field: where (`events[2].learner.id_number`), a stable code, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    pub fn within(mut self, prefix: &str) -> FieldError {
        if !prefix.is_empty() {
            self.field = format!("{prefix}.{}", self.field);
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is refused as a whole; nothing was stored.
    #[error("invalid request: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Absent, or not the caller's to see: the same answer either way.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer's queue is full: nothing was stored; retry shortly.
    #[error("too many completions are waiting to be metered")]
    Busy,
    /// A fault of the gateway itself, not of the request or the database.
    #[error("internal failure: {0}")]
    Internal(String),
    /// A CSV or Excel document could not be written.
    #[error("export failed: {0}")]
    Export(String),
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> ServiceError {
        ServiceError::Store(StoreError::Query(e))
    }
}

impl ServiceError {
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(vec![FieldError::new(field, code, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> ServiceError {
        ServiceError::Conflict {
            code,
            detail: detail.into(),
        }
    }
}

/// Collects every bad field of an input before refusing it.
#[derive(Default)]
pub struct Refusals(Vec<FieldError>);

impl Refusals {
    pub fn add(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Keeps the value of a parse, or records why it failed.
    pub fn take<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        code: &'static str,
        parsed: Result<T, E>,
    ) -> Option<T> {
        parsed
            .map_err(|e| self.add(field, code, e.to_string()))
            .ok()
    }

    pub fn extend(&mut self, errors: Vec<FieldError>) {
        self.0.extend(errors);
    }

    pub fn into_result(self) -> Result<(), ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(self.0))
        }
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

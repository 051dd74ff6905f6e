//! The token endpoint's grants: client credentials for platforms, passwords for staff.

use super::error::Refusals;
use super::input::Reader;
use super::{Gateway, ServiceError};
use crate::auth::{verify_secret, Role};
use crate::store::catalog;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenGrant {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_in: u64,
}

/// Verified against for unknown client ids and usernames too, so timing does not tell which
/// exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| crate::auth::hash_secret(&crate::auth::random_token(16)))
}

/// The account if the secret matches its hash. An unknown account costs the same hashing.
fn authenticated<T>(account: Option<T>, secret: &str, hash: impl Fn(&T) -> &String) -> Option<T> {
    let matches = verify_secret(
        secret,
        account.as_ref().map_or(dummy_hash(), |a| hash(a).as_str()),
    );
    account.filter(|_| matches)
}

impl Gateway {
    pub fn grant_token(&self, body: &Value) -> Result<TokenGrant, ServiceError> {
        let mut refusals = Refusals::default();
        let reader = Reader::object(body, "", &mut refusals);
        let grant_type = reader
            .as_ref()
            .and_then(|r| r.text("grant_type", 32, &mut refusals));
        let (user_key, secret_key) = match grant_type.as_deref() {
            Some("client_credentials") => ("client_id", "client_secret"),
            Some("password") => ("username", "password"),
            Some(_) => {
                refusals.add(
                    "grant_type",
                    "unsupported_grant_type",
                    "must be client_credentials or password",
                );
                ("", "")
            }
            None => ("", ""),
        };
        let (user, secret) = match &reader {
            Some(r) if !user_key.is_empty() => (
                r.text(user_key, 128, &mut refusals),
                r.text(secret_key, 256, &mut refusals),
            ),
            _ => (None, None),
        };
        refusals.into_result()?;
        let (user, secret) = (user.expect("checked"), secret.expect("checked"));
        let refused = || ServiceError::Unauthenticated("invalid credentials".into());
        let (role, subject, platform) = if user_key == "client_id" {
            let found = self
                .store
                .read(|conn| catalog::find_platform_by_client(conn, &user))?;
            let platform =
                authenticated(found, &secret, |p| &p.client_secret_hash).ok_or_else(refused)?;
            if platform.status != "active" {
                return Err(ServiceError::Forbidden {
                    code: "platform_suspended",
                    detail: format!("platform {} is suspended", platform.code),
                });
            }
            (Role::Platform, user, Some(platform.code))
        } else {
            let found = self
                .store
                .read(|conn| catalog::find_staff_user(conn, &user))?;
            let staff = authenticated(found, &secret, |u| &u.password_hash).ok_or_else(refused)?;
            (
                staff.role.parse::<Role>().map_err(|_| refused())?,
                user,
                None,
            )
        };
        tracing::info!(role = role.as_str(), subject = %subject, "token granted");
        Ok(TokenGrant {
            // Token lifetimes follow the wall clock, as their verification does, never the
            // business clock that places completions in training years.
            access_token: self.tokens.mint(
                role,
                &subject,
                platform.as_deref(),
                chrono::Utc::now().timestamp(),
            ),
            token_type: "Bearer",
            expires_in: self.tokens.ttl_seconds(),
        })
    }
}

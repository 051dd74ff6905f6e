//! The token endpoint's grants: client credentials for platforms, passwords for staff.

use super::{Gateway, ServiceError};
use crate::auth::{verify_secret, Role};
use crate::store::catalog;
use serde::Serialize;
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

/// What a caller presents at the token endpoint, parsed by the HTTP layer from JSON or from an
/// OAuth 2.0 form (with the client's credentials in the body or as HTTP Basic).
pub enum Credentials {
    /// `client_credentials`: a platform.
    Client { id: String, secret: String },
    /// `password`: a staff user.
    Staff { username: String, password: String },
}

impl Credentials {
    /// Whom the attempt is for: failed attempts are limited per account as well as per address.
    pub fn account(&self) -> String {
        match self {
            Credentials::Client { id, .. } => format!("client:{id}"),
            Credentials::Staff { username, .. } => format!("user:{username}"),
        }
    }
}

impl Gateway {
    /// A token for valid credentials; `Unauthenticated` for any wrong part, alike.
    pub fn grant_token(&self, credentials: Credentials) -> Result<TokenGrant, ServiceError> {
        let refused = || ServiceError::Unauthenticated("invalid credentials".into());
        let (role, subject, platform, version) = match credentials {
            Credentials::Client { id, secret } => {
                let found = self
                    .store
                    .read(|conn| catalog::find_platform_by_client(conn, &id))?;
                let platform =
                    authenticated(found, &secret, |p| &p.client_secret_hash).ok_or_else(refused)?;
                if platform.status != "active" {
                    return Err(ServiceError::Forbidden {
                        code: "platform_suspended",
                        detail: format!("platform {} is suspended", platform.code),
                    });
                }
                (
                    Role::Platform,
                    id,
                    Some(platform.code),
                    platform.token_version,
                )
            }
            Credentials::Staff { username, password } => {
                let account = self.staff_account(&username, &password)?;
                (account.role, username, account.platform, account.version)
            }
        };
        tracing::info!(role = role.as_str(), subject = %subject, "token granted");
        Ok(TokenGrant {
            // Token lifetimes follow the wall clock, as their verification does, never the
            // business clock that places completions in training years.
            access_token: self.tokens.mint_at_version(
                role,
                &subject,
                platform.as_deref(),
                version,
                chrono::Utc::now().timestamp(),
            ),
            token_type: "Bearer",
            expires_in: self.tokens.ttl_seconds(role),
        })
    }
}

/// A user who signed in with a password: finance, admin, or a platform's staff.
pub struct StaffAccount {
    pub role: Role,
    pub version: i64,
    /// A platform user's platform.
    pub platform: Option<String>,
}

impl Gateway {
    /// An active user's role, account version and platform, for the right password;
    /// `Unauthenticated` for any wrong part, alike.
    pub fn staff_account(
        &self,
        username: &str,
        password: &str,
    ) -> Result<StaffAccount, ServiceError> {
        let refused = || ServiceError::Unauthenticated("invalid credentials".into());
        let found = self
            .store
            .read(|conn| catalog::find_staff_user(conn, username))?;
        let staff = authenticated(found, password, |u| &u.password_hash).ok_or_else(refused)?;
        if staff.status != "active" {
            return Err(refused());
        }
        Ok(StaffAccount {
            role: staff.role.parse::<Role>().map_err(|_| refused())?,
            version: staff.token_version,
            platform: staff.platform_code,
        })
    }

    /// `gateway token`: a token for bootstrap and scripts. For an existing account it is issued
    /// under the account's current version, so revoking the account revokes it too; a disabled
    /// user, a suspended platform or a role unlike the account's gets none.
    pub fn cli_token(
        &self,
        role: Role,
        subject: &str,
        platform: Option<&str>,
    ) -> Result<String, ServiceError> {
        let version = self.account_version(role, subject, platform)?;
        Ok(self.tokens.mint_at_version(
            role,
            subject,
            platform,
            version,
            chrono::Utc::now().timestamp(),
        ))
    }

    /// The current version of the account a bootstrap credential is for (0 for a subject with
    /// no account of its own); refused for a disabled user, a suspended platform or a role
    /// unlike the account's.
    pub fn account_version(
        &self,
        role: Role,
        subject: &str,
        platform: Option<&str>,
    ) -> Result<i64, ServiceError> {
        let refused = |detail: String| ServiceError::Forbidden {
            code: "account_refused",
            detail,
        };
        self.store.read(|conn| match (role, platform) {
            (Role::Platform, Some(code)) => {
                let platform = catalog::find_platform(conn, code)?;
                if platform.as_ref().is_some_and(|p| p.status != "active") {
                    return Err(refused(format!("platform {code} is suspended")));
                }
                // One of the platform's users answers for their own account.
                match catalog::find_staff_user(conn, subject)? {
                    Some(u) if u.role == Role::Platform.as_str() => {
                        if u.status != "active" || u.platform_code.as_deref() != Some(code) {
                            Err(refused(format!(
                                "user {subject} is not an active user of {code}"
                            )))
                        } else {
                            Ok(u.token_version)
                        }
                    }
                    _ => Ok(platform.map_or(0, |p| p.token_version)),
                }
            }
            (Role::Admin | Role::Finance, _) => match catalog::find_staff_user(conn, subject)? {
                Some(u) if u.status != "active" => {
                    Err(refused(format!("user {subject} is disabled")))
                }
                Some(u) if u.role != role.as_str() => {
                    Err(refused(format!("user {subject} is a {} account", u.role)))
                }
                Some(u) => Ok(u.token_version),
                None => Ok(0),
            },
            _ => Ok(0),
        })
    }
}

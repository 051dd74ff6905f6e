//! Console sessions: opened by a staff user's password, a one-time sign-in link (`gateway
//! login-link`) or, for a learner, the identity provider's sign-in; read back from the cookie on
//! every page, closed by signing out. Only hashes of the cookie and the link are stored, and of
//! a learner only the keyed hash and the masked form of the ID number, as everywhere else.

use super::learners::LearnerKey;
use super::{Gateway, ServiceError};
use crate::auth::{random_token, Principal, Role};
use crate::domain::LearnerHash;
use crate::store::models::{SessionRow, SignInLinkRow};
use crate::store::sessions;
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};

/// How long a console session lasts: a working day.
pub const SESSION_HOURS: i64 = 8;
/// How long a printed sign-in link can be used.
pub const LINK_MINUTES: i64 = 15;

/// A signed-in visitor: who they are, and the token their forms must carry. A learner's
/// principal names them by the keyed hash of the ID number.
#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    /// The account as pages and logs show it (a learner's ID number masked).
    pub display: String,
    pub csrf: String,
}

impl Session {
    /// The learner this session is, for a learner's session.
    pub fn learner(&self) -> Option<LearnerKey> {
        if self.principal.role != Role::Learner {
            return None;
        }
        Some(LearnerKey {
            hash: LearnerHash::from_hex(&self.principal.subject)?,
            masked: self.display.clone(),
        })
    }
}

/// A session just opened: the cookie's value goes to the browser, never to the database.
pub struct Opened {
    pub cookie: String,
    pub session: Session,
}

/// Whom a session or a link is for: what is stored as its subject, and what is shown.
struct Account {
    role: Role,
    subject: String,
    display: String,
    platform: Option<String>,
    version: i64,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Gateway {
    /// Signs a staff user in with their password.
    pub fn sign_in(&self, username: &str, password: &str) -> Result<Opened, ServiceError> {
        let account = self.staff_account(username, password)?;
        self.open_session(Account {
            role: account.role,
            subject: username.to_owned(),
            display: username.to_owned(),
            platform: account.platform,
            version: account.version,
        })
    }

    /// The account a bootstrap credential is for, checked as `gateway token` checks it; a
    /// learner by the keyed hash and the masked form of the ID number.
    fn account(
        &self,
        role: Role,
        subject: &str,
        platform: Option<&str>,
    ) -> Result<Account, ServiceError> {
        let version = self.account_version(role, subject, platform)?;
        let (subject, display) = match role {
            Role::Learner => {
                let key = self.learner_key(subject)?;
                (key.hash.to_hex(), key.masked)
            }
            _ => (subject.to_owned(), subject.to_owned()),
        };
        Ok(Account {
            role,
            subject,
            display,
            platform: platform.map(str::to_owned),
            version,
        })
    }

    /// Signs in a learner the identity provider vouched for (its token checked by the caller):
    /// the session knows them by the keyed hash and the masked ID number only.
    pub fn sign_in_learner(&self, id_number: &str) -> Result<Opened, ServiceError> {
        let account = self.account(Role::Learner, id_number, None)?;
        self.open_session(account)
    }

    /// A one-time link for `gateway login-link`: its token, valid for [`LINK_MINUTES`].
    pub fn sign_in_link(
        &self,
        role: Role,
        subject: &str,
        platform: Option<&str>,
    ) -> Result<String, ServiceError> {
        let account = self.account(role, subject, platform)?;
        let token = random_token(32);
        let now = Utc::now().naive_utc();
        let row = SignInLinkRow {
            token_hash: digest(&token),
            role: role.as_str().to_owned(),
            subject: account.subject,
            display: account.display,
            platform_code: platform.map(str::to_owned),
            expires_at: now + Duration::minutes(LINK_MINUTES),
        };
        self.store
            .write(|conn| sessions::add_link(conn, &row, now))?;
        tracing::info!(role = %row.role, account = %row.display, "console sign-in link printed");
        Ok(token)
    }

    /// Uses up a sign-in link; a staff or platform account is checked again, as it stands now.
    pub fn follow_sign_in_link(&self, token: &str) -> Result<Opened, ServiceError> {
        let refused = || ServiceError::Unauthenticated("the sign-in link is not valid".into());
        let now = Utc::now().naive_utc();
        let link = self
            .store
            .write(|conn| sessions::take_link(conn, &digest(token), now))?
            .ok_or_else(refused)?;
        let role = link.role.parse::<Role>().map_err(|_| refused())?;
        let platform = link.platform_code;
        // A learner's link holds no ID number to look an account up by; learners have none.
        let version = match role {
            Role::Learner => 0,
            _ => self.account_version(role, &link.subject, platform.as_deref())?,
        };
        self.open_session(Account {
            role,
            subject: link.subject,
            display: link.display,
            platform,
            version,
        })
    }

    fn open_session(&self, account: Account) -> Result<Opened, ServiceError> {
        let cookie = random_token(32);
        let now = Utc::now().naive_utc();
        let row = SessionRow {
            id_hash: digest(&cookie),
            role: account.role.as_str().to_owned(),
            subject: account.subject,
            display: account.display,
            platform_code: account.platform,
            account_version: account.version,
            csrf_token: random_token(32),
            created_at: now,
            expires_at: now + Duration::hours(SESSION_HOURS),
        };
        self.store.write(|conn| sessions::open(conn, &row))?;
        tracing::info!(role = %row.role, account = %row.display, "console session opened");
        Ok(Opened {
            cookie,
            session: Session {
                principal: Principal {
                    role: account.role,
                    subject: row.subject,
                    platform: row.platform_code,
                    version: account.version,
                },
                display: row.display,
                csrf: row.csrf_token,
            },
        })
    }

    /// The session a cookie opened, while it lasts. Whether its account still stands is the
    /// caller's check, as for tokens.
    pub fn session(&self, cookie: &str) -> Result<Option<Session>, ServiceError> {
        let now = Utc::now().naive_utc();
        let Some(row) = self
            .store
            .read(|conn| sessions::live(conn, &digest(cookie), now))?
        else {
            return Ok(None);
        };
        let Ok(role) = row.role.parse::<Role>() else {
            return Ok(None);
        };
        Ok(Some(Session {
            principal: Principal {
                role,
                subject: row.subject,
                platform: row.platform_code,
                version: row.account_version,
            },
            display: row.display,
            csrf: row.csrf_token,
        }))
    }

    pub fn sign_out(&self, cookie: &str) -> Result<(), ServiceError> {
        self.store
            .write(|conn| sessions::close(conn, &digest(cookie)))?;
        tracing::info!("console session closed");
        Ok(())
    }
}

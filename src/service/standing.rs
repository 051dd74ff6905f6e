//! Revocable access without a database read per request: every process keeps the standing of
//! its accounts (platforms and staff users: status and token version) in memory, reloaded twice
//! a second and at once after a change made here. Suspending a platform, disabling a user,
//! changing a password or rotating a secret thus stops the tokens already issued within a
//! second on every replica.

use super::{Gateway, ServiceError};
use crate::auth::{Principal, Role};
use crate::store::catalog;
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// How often every process reloads the standing of the accounts.
pub const RELOAD_EVERY: Duration = Duration::from_millis(500);

struct PlatformStanding {
    active: bool,
    version: i64,
}

struct StaffStanding {
    role: Role,
    active: bool,
    version: i64,
    /// A platform user's platform.
    platform: Option<String>,
}

#[derive(Default)]
pub struct Standing {
    platforms: RwLock<HashMap<String, PlatformStanding>>,
    staff: RwLock<HashMap<String, StaffStanding>>,
    /// One reload at a time, from reading to installing: a slower, older read must never
    /// replace a newer one (and admit a revoked token again).
    reloading: Mutex<()>,
}

/// Why a valid token no longer admits its bearer.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The platform is suspended (403 `platform_suspended`, as its webhooks always were).
    PlatformSuspended,
    /// The account was disabled, its secret or password changed, or its role is not the
    /// token's: 401.
    Revoked,
}

impl Standing {
    /// Whether the principal's token still stands. Accounts this process has not heard of yet
    /// (made in the last moment on another replica) have nothing revoked.
    pub fn admits(&self, principal: &Principal) -> Result<(), Refusal> {
        match principal.role {
            Role::Platform => {
                let platforms = self.platforms.read().expect("standing lock");
                let code = principal.platform.as_deref().unwrap_or_default();
                let platform = platforms.get(code);
                if platform.is_some_and(|p| !p.active) {
                    return Err(Refusal::PlatformSuspended);
                }
                // A platform user answers for their own account; the platform's client for
                // the platform's secret.
                let staff = self.staff.read().expect("standing lock");
                match staff.get(&principal.subject) {
                    Some(user) if user.role == Role::Platform => {
                        let stands = user.active
                            && principal.version >= user.version
                            && user.platform.as_deref() == Some(code);
                        if stands {
                            Ok(())
                        } else {
                            Err(Refusal::Revoked)
                        }
                    }
                    _ => match platform {
                        Some(p) if principal.version < p.version => Err(Refusal::Revoked),
                        _ => Ok(()),
                    },
                }
            }
            Role::Admin | Role::Finance => {
                let staff = self.staff.read().expect("standing lock");
                match staff.get(&principal.subject) {
                    Some(user)
                        if user.role != principal.role
                            || !user.active
                            || principal.version < user.version =>
                    {
                        Err(Refusal::Revoked)
                    }
                    _ => Ok(()),
                }
            }
            Role::Learner | Role::Bureau | Role::VoucherSystem => Ok(()),
        }
    }
}

impl Gateway {
    /// Reloads the standing of every account from the database.
    pub fn reload_standing(&self) -> Result<(), ServiceError> {
        let _one_at_a_time = self.standing.reloading.lock().expect("standing lock");
        let (platforms, staff) = self.store.read(|conn| {
            Ok::<_, ServiceError>((
                catalog::platform_standing(conn)?,
                catalog::staff_standing(conn)?,
            ))
        })?;
        let platforms = platforms
            .into_iter()
            .map(|(code, status, version)| {
                let active = status == "active";
                (code, PlatformStanding { active, version })
            })
            .collect();
        let staff = staff
            .into_iter()
            .filter_map(|(username, role, status, version, platform)| {
                let role = role.parse().ok()?;
                let active = status == "active";
                Some((
                    username,
                    StaffStanding {
                        role,
                        active,
                        version,
                        platform,
                    },
                ))
            })
            .collect();
        *self.standing.platforms.write().expect("standing lock") = platforms;
        *self.standing.staff.write().expect("standing lock") = staff;
        Ok(())
    }

    pub fn standing(&self) -> &Standing {
        &self.standing
    }

    /// After a change has committed: this process learns it at once (every other within
    /// `RELOAD_EVERY`). A failure here is logged, not answered: the change stands, and the
    /// next periodic reload brings it.
    pub(super) fn reload_after_change(&self) {
        if let Err(e) = self.reload_standing() {
            tracing::warn!(error = %e, "account standing not reloaded after a change; the next reload brings it");
        }
    }
}

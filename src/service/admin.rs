//! Admin use cases: payers, platforms, staff users and rate schedules.

use super::audit::record;
use super::error::Refusals;
use super::input::{code, Reader};
use super::{new_id, schedule_of, utc, Gateway, ServiceError};
use crate::auth::{hash_secret, random_token, Principal, Role};
use crate::domain::schedule::{parse_fraction, PerLevel};
use crate::domain::{Level, Money, RateSchedule, TrainingYear};
use crate::store::models::{PayerRow, PlatformRow, RateScheduleRow, StaffUserRow};
use crate::store::{catalog, Cursor, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct PayerView {
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Whether it pays completions only against an electronic voucher.
    pub voucher_required: bool,
}

impl From<PayerRow> for PayerView {
    fn from(row: PayerRow) -> PayerView {
        PayerView {
            code: row.code,
            name: row.name,
            created_at: utc(row.created_at),
            voucher_required: row.voucher_required_since.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformView {
    pub code: String,
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    pub client_id: String,
    /// Shown once, when the platform is created; only its argon2 hash is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PlatformRow> for PlatformView {
    fn from(row: PlatformRow) -> PlatformView {
        PlatformView {
            code: row.code,
            name: row.name,
            status: row.status,
            client_id: row.client_id,
            client_secret: None,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    /// The platform a `platform` user speaks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<StaffUserRow> for UserView {
    fn from(row: StaffUserRow) -> UserView {
        UserView {
            username: row.username,
            role: row.role,
            status: row.status,
            platform: row.platform_code,
            created_at: utc(row.created_at),
        }
    }
}

/// One of the allowed values of a body's `status`, or a refusal naming them.
fn status_in(body: &Value, allowed: [&'static str; 2]) -> Result<String, ServiceError> {
    let mut refusals = Refusals::default();
    let status = Reader::object(body, "", &mut refusals)
        .and_then(|r| r.text("status", 16, &mut refusals))
        .filter(|status| {
            let known = allowed.contains(&status.as_str());
            if !known {
                refusals.add(
                    "status",
                    "invalid_status",
                    format!("must be {} or {}", allowed[0], allowed[1]),
                );
            }
            known
        });
    refusals.into_result()?;
    Ok(status.expect("checked"))
}

/// A new password of at least 12 characters, or a refusal.
fn new_password(reader: Option<&Reader>, refusals: &mut Refusals) -> Option<String> {
    reader
        .and_then(|r| r.text("password", 256, refusals))
        .filter(|p| {
            let long_enough = p.chars().count() >= 12;
            if !long_enough {
                refusals.add(
                    "password",
                    "weak_password",
                    "must be at least 12 characters",
                );
            }
            long_enough
        })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RateScheduleView {
    pub id: String,
    pub payer: String,
    pub effective_year: i32,
    #[schema(value_type = Object, example = json!({"junior":"3.00","intermediate":"4.00","senior":"5.00"}))]
    pub rates: serde_json::Map<String, Value>,
    #[schema(value_type = Object, example = json!({"junior":"3000.00","intermediate":"4000.00","senior":"5000.00"}))]
    pub saturation_per_class_hour: serde_json::Map<String, Value>,
    #[schema(value_type = String, example = "300.00")]
    pub learner_annual_cap: Money,
    #[schema(value_type = String, example = "3000000.00")]
    pub platform_annual_ceiling: Money,
    #[schema(value_type = String, example = "0.50")]
    pub offline_ratio_threshold: String,
    #[schema(value_type = String, example = "0.50")]
    pub offline_reduction_factor: String,
    pub created_at: DateTime<Utc>,
}

fn per_level_json(values: &PerLevel) -> serde_json::Map<String, Value> {
    Level::ALL
        .into_iter()
        .map(|level| {
            (
                level.as_str().to_owned(),
                Value::String(values.get(level).to_string()),
            )
        })
        .collect()
}

impl From<RateScheduleRow> for RateScheduleView {
    fn from(row: RateScheduleRow) -> RateScheduleView {
        let schedule = schedule_of(&row);
        RateScheduleView {
            id: row.id,
            payer: row.payer_code,
            effective_year: row.effective_year,
            rates: per_level_json(&schedule.rates),
            saturation_per_class_hour: per_level_json(&schedule.saturation_per_class_hour),
            learner_annual_cap: schedule.learner_annual_cap,
            platform_annual_ceiling: schedule.platform_annual_ceiling,
            offline_ratio_threshold: row.offline_ratio_threshold,
            offline_reduction_factor: row.offline_reduction_factor,
            created_at: utc(row.created_at),
        }
    }
}

/// A unique violation on insert is the conflict: the first writer won.
fn unique_or(code: &'static str, detail: String) -> impl FnOnce(StoreError) -> ServiceError {
    move |e| {
        if e.is_unique_violation() {
            ServiceError::conflict(code, detail)
        } else {
            ServiceError::Store(e)
        }
    }
}

fn code_and_name(body: &Value) -> Result<(String, String), ServiceError> {
    let mut refusals = Refusals::default();
    let reader = Reader::object(body, "", &mut refusals);
    let code = reader.as_ref().and_then(|r| code(r, "code", &mut refusals));
    let name = reader
        .as_ref()
        .and_then(|r| r.text("name", 200, &mut refusals));
    refusals.into_result()?;
    Ok((code.expect("checked"), name.expect("checked")))
}

impl Gateway {
    pub fn create_payer(&self, actor: &str, body: &Value) -> Result<PayerView, ServiceError> {
        let (code, name) = code_and_name(body)?;
        let row = PayerRow {
            code: code.clone(),
            name,
            created_at: self.stamp(),
            voucher_required_since: None,
        };
        self.store.write(|conn| {
            catalog::insert_payer(conn, &row).map_err(unique_or(
                "payer_exists",
                format!("payer {code} already exists"),
            ))?;
            let after = json!({"name": row.name});
            record(
                conn,
                row.created_at,
                actor,
                "payer.created",
                ("payer", &code),
                None,
                Some(after),
            )?;
            Ok::<_, ServiceError>(())
        })?;
        tracing::info!(payer = %code, "payer created");
        Ok(row.into())
    }

    pub fn list_payers(&self, page: &Cursor) -> Result<Vec<PayerView>, ServiceError> {
        self.store.read(|conn| {
            Ok(catalog::list_payers(conn, page)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Creates a platform with fresh client credentials; the secret is in this answer only.
    pub fn create_platform(&self, actor: &str, body: &Value) -> Result<PlatformView, ServiceError> {
        let (code, name) = code_and_name(body)?;
        let secret = random_token(32);
        let now = self.stamp();
        let row = PlatformRow {
            code: code.clone(),
            name,
            status: "active".into(),
            client_id: format!("cl_{}", random_token(12)),
            client_secret_hash: hash_secret(&secret),
            created_at: now,
            updated_at: now,
            token_version: 0,
        };
        self.store.write(|conn| {
            catalog::insert_platform(conn, &row).map_err(unique_or(
                "platform_exists",
                format!("platform {code} already exists"),
            ))?;
            let after = json!({"name": row.name, "status": row.status, "client_id": row.client_id});
            record(
                conn,
                now,
                actor,
                "platform.created",
                ("platform", &code),
                None,
                Some(after),
            )?;
            Ok::<_, ServiceError>(())
        })?;
        tracing::info!(platform = %code, "platform created");
        let mut view = PlatformView::from(row);
        view.client_secret = Some(secret);
        Ok(view)
    }

    pub fn list_platforms(&self, page: &Cursor) -> Result<Vec<PlatformView>, ServiceError> {
        self.store.read(|conn| {
            Ok(catalog::list_platforms(conn, page)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    pub fn get_platform(&self, code: &str) -> Result<PlatformView, ServiceError> {
        self.store.read(|conn| {
            catalog::find_platform(conn, code)?
                .map(Into::into)
                .ok_or(ServiceError::NotFound("platform"))
        })
    }

    /// Suspends or reactivates a platform. A suspended platform's webhooks are refused.
    pub fn update_platform(
        &self,
        actor: &str,
        code: &str,
        body: &Value,
    ) -> Result<PlatformView, ServiceError> {
        let status = status_in(body, ["active", "suspended"])?;
        let now = self.stamp();
        let view = self.store.write(|conn| {
            let before =
                catalog::find_platform(conn, code)?.ok_or(ServiceError::NotFound("platform"))?;
            catalog::set_platform_status(conn, code, &status, now)?;
            record(
                conn,
                now,
                actor,
                "platform.status_changed",
                ("platform", code),
                Some(json!({"status": before.status})),
                Some(json!({"status": status})),
            )?;
            catalog::find_platform(conn, code)?
                .map(PlatformView::from)
                .ok_or(ServiceError::NotFound("platform"))
        })?;
        tracing::info!(platform = %code, status = %view.status, "platform status changed");
        self.reload_after_change();
        Ok(view)
    }

    /// A new client secret, in this answer only; every token issued before it stops working.
    pub fn rotate_platform_secret(
        &self,
        actor: &str,
        code: &str,
    ) -> Result<PlatformView, ServiceError> {
        let secret = random_token(32);
        let hash = hash_secret(&secret);
        let now = self.stamp();
        let row = self.store.write(|conn| {
            catalog::find_platform(conn, code)?.ok_or(ServiceError::NotFound("platform"))?;
            catalog::rotate_platform_secret(conn, code, &hash, now)?;
            record(
                conn,
                now,
                actor,
                "platform.secret_rotated",
                ("platform", code),
                None,
                None,
            )?;
            catalog::find_platform(conn, code)?.ok_or(ServiceError::NotFound("platform"))
        })?;
        tracing::info!(platform = %code, "platform secret rotated");
        self.reload_after_change();
        let mut view = PlatformView::from(row);
        view.client_secret = Some(secret);
        Ok(view)
    }

    pub fn list_users(&self, page: &Cursor) -> Result<Vec<UserView>, ServiceError> {
        self.store.read(|conn| {
            Ok(catalog::list_staff_users(conn, page)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Disables or re-enables a staff user; the tokens issued before stop working either way.
    pub fn update_user(
        &self,
        actor: &str,
        username: &str,
        body: &Value,
    ) -> Result<UserView, ServiceError> {
        let status = status_in(body, ["active", "disabled"])?;
        let now = self.stamp();
        let row = self.store.write(|conn| {
            let before =
                catalog::find_staff_user(conn, username)?.ok_or(ServiceError::NotFound("user"))?;
            catalog::set_staff_status(conn, username, &status)?;
            let action = if status == "active" {
                "user.enabled"
            } else {
                "user.disabled"
            };
            record(
                conn,
                now,
                actor,
                action,
                ("user", username),
                Some(json!({"status": before.status})),
                Some(json!({"status": status})),
            )?;
            catalog::find_staff_user(conn, username)?.ok_or(ServiceError::NotFound("user"))
        })?;
        tracing::info!(username = %username, status = %row.status, "staff user status changed");
        self.reload_after_change();
        Ok(row.into())
    }

    /// Whether the caller's account has a password to change (a sign-in link may name an
    /// account that has none).
    pub fn has_password(&self, principal: &Principal) -> Result<bool, ServiceError> {
        Ok(self.user_named(principal, &principal.subject)?.is_some())
    }

    /// The user `username` as the caller may see it: staff see any; a platform's caller only
    /// its own platform's users.
    fn user_named(
        &self,
        principal: &Principal,
        username: &str,
    ) -> Result<Option<StaffUserRow>, ServiceError> {
        Ok(self
            .store
            .read(|conn| catalog::find_staff_user(conn, username))?
            .filter(|user| {
                principal.role != Role::Platform
                    || user.role == Role::Platform.as_str()
                        && user.platform_code.is_some()
                        && user.platform_code == principal.platform
            }))
    }

    /// Sets a staff or platform user's password: an admin for anyone, a user for themselves
    /// with their current password. Their other tokens and sessions stop working.
    pub fn change_password(
        &self,
        principal: &Principal,
        username: &str,
        body: &Value,
    ) -> Result<UserView, ServiceError> {
        let own = principal.role != Role::Admin || principal.subject == username;
        let mut refusals = Refusals::default();
        let reader = Reader::object(body, "", &mut refusals);
        let password = new_password(reader.as_ref(), &mut refusals);
        let current = if own {
            reader
                .as_ref()
                .and_then(|r| r.text("current_password", 256, &mut refusals))
        } else {
            None
        };
        refusals.into_result()?;
        if principal.role != Role::Admin && principal.subject != username {
            // Another's account is not this caller's to see.
            return Err(ServiceError::NotFound("user"));
        }
        let user = self
            .user_named(principal, username)?
            .ok_or(ServiceError::NotFound("user"))?;
        // Checked before the write transaction: argon2 is slow on purpose.
        if let Some(current) = &current {
            if !crate::auth::verify_secret(current, &user.password_hash) {
                return Err(ServiceError::invalid(
                    "current_password",
                    "wrong_password",
                    "is not the current password",
                ));
            }
        }
        let hash = hash_secret(&password.expect("checked"));
        let now = self.stamp();
        let actor = super::audit::actor(principal);
        let row = self.store.write(|conn| {
            catalog::set_staff_password(conn, username, &hash)?;
            record(
                conn,
                now,
                &actor,
                "user.password_changed",
                ("user", username),
                None,
                None,
            )?;
            catalog::find_staff_user(conn, username)?.ok_or(ServiceError::NotFound("user"))
        })?;
        tracing::info!(username = %username, by = %actor, "staff password changed");
        self.reload_after_change();
        Ok(row.into())
    }

    pub fn create_user(&self, actor: &str, body: &Value) -> Result<UserView, ServiceError> {
        let mut refusals = Refusals::default();
        let reader = Reader::object(body, "", &mut refusals);
        let username = reader
            .as_ref()
            .and_then(|r| code(r, "username", &mut refusals));
        let role = reader
            .as_ref()
            .and_then(|r| r.text("role", 16, &mut refusals))
            .and_then(|role| match role.parse::<Role>() {
                Ok(role @ (Role::Admin | Role::Finance | Role::Platform)) => Some(role),
                _ => {
                    refusals.add("role", "invalid_role", "must be finance, admin or platform");
                    None
                }
            });
        // A platform user speaks for one platform; staff for none.
        let platform = match (role, reader.as_ref().and_then(|r| r.raw("platform"))) {
            (Some(Role::Platform), _) => reader
                .as_ref()
                .and_then(|r| code(r, "platform", &mut refusals)),
            (Some(_), Some(_)) => {
                refusals.add("platform", "invalid_platform", "is only for platform users");
                None
            }
            _ => None,
        };
        let password = new_password(reader.as_ref(), &mut refusals);
        refusals.into_result()?;
        let (username, role, password) = (
            username.expect("checked"),
            role.expect("checked"),
            password.expect("checked"),
        );
        let row = StaffUserRow {
            username: username.clone(),
            role: role.as_str().to_owned(),
            password_hash: hash_secret(&password),
            created_at: self.stamp(),
            status: "active".into(),
            token_version: 0,
            platform_code: platform,
        };
        self.store.write(|conn| {
            if let Some(code) = &row.platform_code {
                catalog::find_platform(conn, code)?.ok_or_else(|| {
                    ServiceError::invalid("platform", "unknown_platform", "is not a known platform")
                })?;
            }
            catalog::insert_staff_user(conn, &row).map_err(unique_or(
                "user_exists",
                format!("user {username} already exists"),
            ))?;
            let after = json!({"role": row.role});
            record(
                conn,
                row.created_at,
                actor,
                "user.created",
                ("user", &username),
                None,
                Some(after),
            )?;
            Ok::<_, ServiceError>(())
        })?;
        tracing::info!(username = %username, role = role.as_str(), "staff user created");
        Ok(row.into())
    }

    pub fn list_schedules(
        &self,
        payer: Option<&str>,
        page: &Cursor,
    ) -> Result<Vec<RateScheduleView>, ServiceError> {
        self.store.read(|conn| {
            Ok(catalog::list_schedules(conn, payer, page)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// The schedule version that prices a payer's training year.
    pub fn schedule_in_effect(
        &self,
        payer: &str,
        year: i32,
    ) -> Result<RateScheduleView, ServiceError> {
        self.store.read(|conn| {
            catalog::schedule_for(conn, payer, year)?
                .map(Into::into)
                .ok_or(ServiceError::NotFound("rate schedule"))
        })
    }

    /// Adds a schedule version, or replaces the payer's version of that year while it has
    /// priced nothing. A version may not reach back into a year already priced.
    pub fn create_schedule(
        &self,
        actor: &str,
        body: &Value,
    ) -> Result<RateScheduleView, ServiceError> {
        let (payer, schedule) = parse_schedule(body)?;
        let now = self.stamp();
        let view = self.store.write(|conn| {
            catalog::find_payer(conn, &payer)?.ok_or_else(|| {
                ServiceError::invalid("payer", "unknown_payer", "is not a known payer")
            })?;
            let year = schedule.effective_year.value();
            if let Some(priced) = catalog::last_priced_year(conn, &payer)? {
                if priced >= year {
                    return Err(ServiceError::conflict(
                        "schedule_in_use",
                        format!(
                            "payer {payer} has completions priced in training year {priced}; \
                             a new version must take effect after it"
                        ),
                    ));
                }
            }
            let replaced = catalog::find_schedule_by_year(conn, &payer, year)?;
            let row = schedule_row(&payer, &schedule, now);
            catalog::replace_schedule(conn, replaced.as_ref().map(|r| r.id.as_str()), &row)?;
            let before = replaced.map(|old| json!(RateScheduleView::from(old)));
            let view = RateScheduleView::from(row);
            let after = json!(view);
            let object = format!("{payer}/{year}");
            record(
                conn,
                now,
                actor,
                "rate_schedule.stored",
                ("rate_schedule", &object),
                before,
                Some(after),
            )?;
            Ok(view)
        })?;
        tracing::info!(payer = %view.payer, effective_year = view.effective_year, "rate schedule version stored");
        Ok(view)
    }
}

fn schedule_row(payer: &str, s: &RateSchedule, now: chrono::NaiveDateTime) -> RateScheduleRow {
    RateScheduleRow {
        id: new_id(),
        payer_code: payer.to_owned(),
        effective_year: s.effective_year.value(),
        junior_rate_fen: s.rates.junior.fen(),
        intermediate_rate_fen: s.rates.intermediate.fen(),
        senior_rate_fen: s.rates.senior.fen(),
        junior_saturation_fen: s.saturation_per_class_hour.junior.fen(),
        intermediate_saturation_fen: s.saturation_per_class_hour.intermediate.fen(),
        senior_saturation_fen: s.saturation_per_class_hour.senior.fen(),
        learner_annual_cap_fen: s.learner_annual_cap.fen(),
        platform_annual_ceiling_fen: s.platform_annual_ceiling.fen(),
        offline_ratio_threshold: s.offline_ratio_threshold.to_string(),
        offline_reduction_factor: s.offline_reduction_factor.to_string(),
        created_at: now,
    }
}

fn parse_schedule(body: &Value) -> Result<(String, RateSchedule), ServiceError> {
    let mut refusals = Refusals::default();
    let Some(reader) = Reader::object(body, "", &mut refusals) else {
        return Err(ServiceError::Invalid(refusals.into_errors()));
    };
    let payer = code(&reader, "payer", &mut refusals);
    let year = reader
        .integer("effective_year", 2000..=2100, &mut refusals)
        .and_then(|y| TrainingYear::new(i32::try_from(y).ok()?).ok());
    let mut money = |reader: &Reader, key: &str| {
        reader.text(key, 32, &mut refusals).and_then(|text| {
            refusals.take(&reader.path(key), "invalid_amount", Money::parse(&text))
        })
    };
    let per_level = |key: &str, refusals: &mut Refusals| -> Option<PerLevel> {
        let nested = reader.nested(key, refusals)?;
        let mut amount = |level: Level| {
            nested.text(level.as_str(), 32, refusals).and_then(|text| {
                refusals.take(
                    &nested.path(level.as_str()),
                    "invalid_amount",
                    Money::parse(&text),
                )
            })
        };
        Some(PerLevel {
            junior: amount(Level::Junior)?,
            intermediate: amount(Level::Intermediate)?,
            senior: amount(Level::Senior)?,
        })
    };
    let cap = money(&reader, "learner_annual_cap");
    let ceiling = money(&reader, "platform_annual_ceiling");
    let rates = per_level("rates", &mut refusals);
    let saturation = per_level("saturation_per_class_hour", &mut refusals);
    let mut fraction = |key: &str| {
        reader
            .text(key, 16, &mut refusals)
            .and_then(|text| refusals.take(key, "invalid_fraction", parse_fraction(&text)))
    };
    let threshold = fraction("offline_ratio_threshold");
    let factor = fraction("offline_reduction_factor");
    refusals.into_result()?;
    match (
        payer, year, rates, saturation, cap, ceiling, threshold, factor,
    ) {
        (
            Some(payer),
            Some(year),
            Some(rates),
            Some(saturation),
            Some(cap),
            Some(ceiling),
            Some(threshold),
            Some(factor),
        ) => Ok((
            payer,
            RateSchedule {
                effective_year: year,
                rates,
                saturation_per_class_hour: saturation,
                learner_annual_cap: cap,
                platform_annual_ceiling: ceiling,
                offline_ratio_threshold: threshold,
                offline_reduction_factor: factor,
            },
        )),
        _ => Err(ServiceError::invalid(
            "body",
            "invalid_schedule",
            "is not a complete rate schedule",
        )),
    }
}

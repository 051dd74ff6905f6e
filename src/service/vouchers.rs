//! Electronic vouchers: issued into the gateway (by an admin or the voucher system, through the
//! API or `gateway vouchers import`), redeemed by completions in the ledger writer's groups
//! (held while the completion is live), cancelled while unused; seen by their learners and checked by
//! platforms before a course.

use super::audit::record;
use super::error::Refusals;
use super::input::{code, Reader};
use super::{utc, Gateway, ServiceError};
use crate::auth::Principal;
use crate::domain::voucher::VoucherStatus;
use crate::domain::{IdNumber, LearnerHash, Level};
use crate::store::models::VoucherRow;
use crate::store::vouchers::HeldVoucher;
use crate::store::{catalog, vouchers};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherPage {
    pub items: Vec<VoucherView>,
    /// The cursor of the next page (`after=`), while there may be one.
    pub next_after: Option<String>,
}

/// The most vouchers one request issues.
pub const MAX_VOUCHERS: usize = 1000;

#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherView {
    pub code: String,
    pub payer: String,
    /// The learner's ID number, masked.
    pub learner: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// Only for this level, when set.
    pub level: Option<String>,
    /// Only for this course code, when set.
    pub course_code: Option<String>,
    /// `issued`, `redeemed` or `cancelled`.
    pub status: String,
}

impl From<HeldVoucher> for VoucherView {
    fn from(held: HeldVoucher) -> VoucherView {
        let status = held.status().as_str().to_owned();
        let row = held.voucher;
        VoucherView {
            code: row.code,
            payer: row.payer_code,
            learner: row.learner_masked,
            valid_from: utc(row.valid_from),
            valid_until: utc(row.valid_until),
            level: row.level,
            course_code: row.course_code,
            status,
        }
    }
}

/// A platform's check before a course: only whether the voucher is usable by that learner.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherCheck {
    pub valid: bool,
}

/// One voucher of a request, parsed; `None` with its refusals recorded.
fn voucher_input(
    gateway: &Gateway,
    value: &Value,
    prefix: &str,
    actor: &str,
    refusals: &mut Refusals,
) -> Option<VoucherRow> {
    let reader = Reader::object(value, prefix, refusals)?;
    let voucher_code = reader.text("code", 64, refusals);
    let payer = code(&reader, "payer", refusals);
    // The learner as API.md writes it (`"learner": {"id_number", "name"}`; the name is not
    // kept), or the bare `id_number` of a CSV row.
    let learner = match reader.raw("learner") {
        Some(_) => reader.nested("learner", refusals),
        None => Some(Reader::new(value, prefix)),
    };
    let id_number = learner.and_then(|learner| {
        learner.text("id_number", 32, refusals).and_then(|text| {
            refusals.take(
                &learner.path("id_number"),
                "invalid_id_number",
                IdNumber::parse(&text, gateway.today()),
            )
        })
    });
    let mut moment = |key: &str| {
        reader.text(key, 64, refusals).and_then(|text| {
            refusals.take(
                &reader.path(key),
                "invalid_timestamp",
                DateTime::parse_from_rfc3339(&text).map_err(|_| "must be RFC 3339 with an offset"),
            )
        })
    };
    let (valid_from, valid_until) = (moment("valid_from"), moment("valid_until"));
    if let (Some(from), Some(until)) = (valid_from, valid_until) {
        if until <= from {
            refusals.add(
                &reader.path("valid_until"),
                "invalid_window",
                "must be after valid_from",
            );
        }
    }
    let level = reader
        .optional_text("level", 16, refusals)
        .flatten()
        .and_then(|text| {
            refusals.take(
                &reader.path("level"),
                "invalid_level",
                text.parse::<Level>(),
            )
        })
        .map(|level| level.as_str().to_owned());
    let course_code = match reader.optional_text("course_code", 64, refusals) {
        Some(Some(_)) => code(&reader, "course_code", refusals),
        _ => None,
    };
    let now = gateway.stamp();
    Some(VoucherRow {
        code: voucher_code?,
        payer_code: payer?,
        learner_hash: gateway.ids.hash(id_number.as_ref()?).as_bytes().to_vec(),
        learner_masked: id_number?.masked(),
        valid_from: valid_from?.naive_utc(),
        valid_until: valid_until?.naive_utc(),
        level,
        course_code,
        status: VoucherStatus::Issued.as_str().to_owned(),
        created_at: now,
        created_by: actor.to_owned(),
    })
}

impl Gateway {
    /// Issues one voucher (`{…}`) or up to 1,000 (`{"vouchers": […]}`): all of them, or none
    /// with every refusal listed.
    pub fn issue_vouchers(
        &self,
        actor: &str,
        body: &Value,
    ) -> Result<Vec<VoucherView>, ServiceError> {
        let (items, batch): (Vec<&Value>, bool) = match body.get("vouchers") {
            Some(Value::Array(items)) if (1..=MAX_VOUCHERS).contains(&items.len()) => {
                (items.iter().collect(), true)
            }
            Some(_) => {
                return Err(ServiceError::invalid(
                    "vouchers",
                    "invalid_batch",
                    format!("must be an array of 1 to {MAX_VOUCHERS} vouchers"),
                ))
            }
            None => (vec![body], false),
        };
        let mut refusals = Refusals::default();
        let mut rows = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let prefix = if batch {
                format!("vouchers[{i}]")
            } else {
                String::new()
            };
            if let Some(row) = voucher_input(self, item, &prefix, actor, &mut refusals) {
                rows.push((prefix, row));
            }
        }
        refusals.into_result()?;
        let path = |prefix: &str, key: &str| {
            if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            }
        };
        self.store.write(|conn| {
            let mut refusals = Refusals::default();
            let codes: Vec<&str> = rows.iter().map(|(_, r)| r.code.as_str()).collect();
            let taken: BTreeSet<String> =
                vouchers::codes_taken(conn, &codes)?.into_iter().collect();
            let mut seen = BTreeSet::new();
            for (prefix, row) in &rows {
                if taken.contains(&row.code) || !seen.insert(row.code.as_str()) {
                    refusals.add(&path(prefix, "code"), "voucher_exists", "is already issued");
                }
                if catalog::find_payer(conn, &row.payer_code)?.is_none() {
                    refusals.add(
                        &path(prefix, "payer"),
                        "unknown_payer",
                        "is not a known payer",
                    );
                }
            }
            refusals.into_result()?;
            let rows: Vec<VoucherRow> = rows.into_iter().map(|(_, row)| row).collect();
            vouchers::insert(conn, &rows)?;
            for row in &rows {
                let after = json!({"payer": row.payer_code, "learner": row.learner_masked,
                    "valid_until": utc(row.valid_until)});
                record(
                    conn,
                    row.created_at,
                    actor,
                    "voucher.issued",
                    ("voucher", &row.code),
                    None,
                    Some(after),
                )?;
            }
            tracing::info!(vouchers = rows.len(), actor = %actor, "vouchers issued");
            Ok(rows
                .into_iter()
                .map(|voucher| HeldVoucher::from((voucher, None)).into())
                .collect())
        })
    }

    /// Withdraws an unused voucher.
    pub fn cancel_voucher(&self, actor: &str, voucher: &str) -> Result<VoucherView, ServiceError> {
        let now = self.stamp();
        self.store.write(|conn| {
            let held = vouchers::find(conn, voucher)?.ok_or(ServiceError::NotFound("voucher"))?;
            let status = held.status();
            if status != VoucherStatus::Issued {
                return Err(ServiceError::conflict(
                    "voucher_not_cancellable",
                    format!(
                        "voucher {voucher} is {}; only an unused one is cancelled",
                        status.as_str()
                    ),
                ));
            }
            vouchers::cancel(conn, voucher)?;
            record(
                conn,
                now,
                actor,
                "voucher.cancelled",
                ("voucher", voucher),
                Some(json!({"status": status.as_str()})),
                Some(json!({"status": "cancelled"})),
            )?;
            let row = vouchers::find(conn, voucher)?.ok_or(ServiceError::NotFound("voucher"))?;
            Ok(row.into())
        })
    }

    /// Vouchers by code, a page at a time, of a payer and in a status when asked.
    pub fn list_vouchers(
        &self,
        payer: Option<String>,
        status: Option<String>,
        after: Option<String>,
        limit: i64,
    ) -> Result<VoucherPage, ServiceError> {
        let status = match status.as_deref().map(VoucherStatus::parse) {
            None => None,
            Some(Some(status)) => Some(status),
            Some(None) => {
                return Err(ServiceError::invalid(
                    "status",
                    "invalid_status",
                    "must be issued, redeemed or cancelled",
                ))
            }
        };
        let rows = self
            .store
            .read(|conn| vouchers::list(conn, payer.as_deref(), status, after.as_deref(), limit))?;
        let next_after = super::next_after(&rows, limit, |r| &r.voucher.code);
        Ok(VoucherPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_after,
        })
    }

    /// The caller's own vouchers (a learner, by the ID number of their token).
    pub fn my_vouchers(&self, principal: &Principal) -> Result<Vec<VoucherView>, ServiceError> {
        self.vouchers_of(&self.learner_key(&principal.subject)?.hash)
    }

    /// A learner's vouchers, by the keyed hash of their ID number.
    pub fn vouchers_of(&self, learner: &LearnerHash) -> Result<Vec<VoucherView>, ServiceError> {
        self.store.read(|conn| {
            Ok(vouchers::of_learner(conn, learner.as_bytes())?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Whether the voucher can be redeemed by this learner now: unused and within its window.
    /// Nothing else is said, so that codes cannot be probed.
    pub fn check_voucher(
        &self,
        voucher: &str,
        id_number: &str,
    ) -> Result<VoucherCheck, ServiceError> {
        let Ok(id_number) = IdNumber::parse(id_number, self.today()) else {
            return Ok(VoucherCheck { valid: false });
        };
        let hash = self.ids.hash(&id_number);
        let now = self.stamp();
        let held = self.store.read(|conn| vouchers::find(conn, voucher))?;
        Ok(VoucherCheck {
            valid: held.is_some_and(|held| {
                let v = &held.voucher;
                v.learner_hash == hash.as_bytes()
                    && held.status() == VoucherStatus::Issued
                    && v.valid_from <= now
                    && now <= v.valid_until
            }),
        })
    }

    /// Whether a payer pays only against vouchers, from now on.
    pub fn set_voucher_requirement(
        &self,
        actor: &str,
        payer: &str,
        body: &Value,
    ) -> Result<super::admin::PayerView, ServiceError> {
        let required = match body.get("voucher_required") {
            Some(Value::Bool(required)) => *required,
            _ => {
                return Err(ServiceError::invalid(
                    "voucher_required",
                    "invalid_type",
                    "must be true or false",
                ))
            }
        };
        let now = self.stamp();
        self.store.write(|conn| {
            let before =
                catalog::find_payer(conn, payer)?.ok_or(ServiceError::NotFound("payer"))?;
            // Already required: it stays required from when it first was.
            let since = match (required, before.voucher_required_since) {
                (true, Some(since)) => Some(since),
                (true, None) => Some(now),
                (false, _) => None,
            };
            vouchers::set_requirement(conn, payer, since)?;
            record(
                conn,
                now,
                actor,
                "payer.voucher_requirement_changed",
                ("payer", payer),
                Some(json!({"voucher_required": before.voucher_required_since.is_some()})),
                Some(json!({"voucher_required": required})),
            )?;
            let after = catalog::find_payer(conn, payer)?.ok_or(ServiceError::NotFound("payer"))?;
            Ok(after.into())
        })
    }
}

/// `gateway vouchers import FILE`: the CSV's rows issued a thousand at a time (each thousand all
/// or none), with a progress bar on a terminal. A refused thousand stops the import and names
/// its lines; the thousands before it stay issued, so the file can be fixed and imported again
/// from that line (an issued code is refused as `voucher_exists`).
pub fn import_csv(gateway: &Gateway, path: &std::path::Path) -> anyhow::Result<usize> {
    let mut reader = csv::Reader::from_path(path)?;
    let headers = reader.headers()?.clone();
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let progress = indicatif::ProgressBar::new(records.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} vouchers ({eta})")
            .expect("a valid template"),
    );
    let mut issued = 0;
    for (chunk, rows) in records.chunks(MAX_VOUCHERS).enumerate() {
        let vouchers: Vec<Value> = rows
            .iter()
            .map(|row| {
                let fields = headers
                    .iter()
                    .zip(row.iter())
                    .filter(|(_, value)| !value.trim().is_empty())
                    .map(|(name, value)| (name.to_owned(), json!(value.trim())));
                Value::Object(fields.collect())
            })
            .collect();
        match gateway.issue_vouchers("cli:vouchers-import", &json!({ "vouchers": vouchers })) {
            Ok(views) => issued += views.len(),
            Err(ServiceError::Invalid(errors)) => {
                progress.abandon();
                // `vouchers[i].field` → the CSV line (the header is line 1).
                let first_line = chunk * MAX_VOUCHERS + 2;
                for error in &errors {
                    let (index, field) = error
                        .field
                        .strip_prefix("vouchers[")
                        .and_then(|rest| rest.split_once("]."))
                        .and_then(|(i, field)| Some((i.parse::<usize>().ok()?, field)))
                        .unwrap_or((0, error.field.as_str()));
                    eprintln!("line {}: {field}: {}", first_line + index, error.message);
                }
                anyhow::bail!(
                    "lines {first_line}..{} were refused; {issued} vouchers before them were issued",
                    first_line + rows.len() - 1
                );
            }
            Err(other) => return Err(other.into()),
        }
        progress.inc(rows.len() as u64);
    }
    progress.finish();
    Ok(issued)
}

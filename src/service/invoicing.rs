//! Invoice runs and the invoice lifecycle: draft → issued → approved → submitted → paid, or
//! issued → rejected. Every transition is one money transaction with its audit record.

use super::audit::{account_of, actor, record};
use super::error::Refusals;
use super::input::{code, Reader};
use super::webhooks;
use super::{new_id, next_after, schedule_of, utc, Gateway, ServiceError};
use crate::auth::{Principal, Role};
use crate::domain::invoice::{true_up, BillingPeriod, YearToDate};
use crate::domain::notice::EventType;
use crate::domain::review::{may, InvoiceStatus, Review, ReviewAction, ReviewRefusal};
use crate::domain::{FollowupRatio, Level, Money, Reduction};
use crate::store::billing::{self, InvoiceFilter};
use crate::store::models::{InvoiceLineRow, InvoiceRow, OutboxRow};
use crate::store::{catalog, ledger, ledger_generation, Cursor, DbConn};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLine {
    /// `level`, `revocations`, `offline_reduction` or `previously_invoiced`.
    pub kind: String,
    pub level: Option<String>,
    pub class_hours: Option<i64>,
    #[schema(value_type = String, example = "30.00")]
    pub amount: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncludedCompletion {
    pub event_id: String,
    #[schema(value_type = String, example = "30.00")]
    pub granted: Money,
}

/// A page of the completions an invoice newly includes.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionPage {
    #[serde(rename = "completions")]
    pub items: Vec<IncludedCompletion>,
    /// How many it includes in all.
    #[serde(rename = "completions_total")]
    pub total: i64,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(rename = "completions_next_after")]
    pub next_after: Option<String>,
}

/// Completions listed with an invoice; the rest are paged.
const COMPLETIONS_PAGE: i64 = 100;

/// What an invoice includes (see [`billing::Window`]).
fn window(row: &InvoiceRow) -> billing::Window {
    let period = BillingPeriod::parse(&row.period).expect("stored periods are valid");
    billing::Window {
        platform: row.platform_code.clone(),
        payer: row.payer_code.clone(),
        year: row.training_year,
        until: period.end().naive_utc(),
        cutoff: row.cutoff_generation,
        covered: row.covered_until.zip(row.covered_generation),
    }
}

fn completion_page(
    conn: &mut DbConn,
    invoice: &InvoiceRow,
    page: &Cursor,
) -> Result<CompletionPage, ServiceError> {
    let items: Vec<IncludedCompletion> = billing::completions_of(conn, &window(invoice), page)?
        .into_iter()
        .map(|(event_id, fen)| IncludedCompletion {
            event_id,
            granted: Money::from_fen(fen),
        })
        .collect();
    Ok(CompletionPage {
        next_after: next_after(&items, page.limit, |c| &c.event_id),
        total: invoice.completions_total,
        items,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    pub id: String,
    /// Assigned at issue, gapless per payer and training year.
    pub number: Option<String>,
    pub platform: String,
    pub payer: String,
    pub training_year: i32,
    pub period: String,
    /// `draft`, `issued`, `approved`, `submitted`, `paid` or `rejected`.
    pub status: String,
    /// Negative: a credit note.
    #[schema(value_type = String, example = "25.00")]
    pub amount: Money,
    #[schema(value_type = String, example = "50.00")]
    pub granted_ytd: Money,
    #[schema(value_type = String, example = "25.00")]
    pub payable_ytd: Money,
    #[schema(value_type = String, example = "0.00")]
    pub previously_invoiced: Money,
    #[schema(value_type = Option<String>, example = "0.00")]
    pub offline_ratio: Option<String>,
    pub learners: i64,
    pub learners_with_followup: i64,
    pub lines: Vec<InvoiceLine>,
    /// The completions this invoice newly includes: the first page (by event id) of
    /// `GET /v1/invoices/{id}/completions`.
    #[serde(flatten)]
    pub completions: CompletionPage,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub issued_at: Option<DateTime<Utc>>,
    pub issued_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejected_by: Option<String>,
    pub reject_reason: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub payment_reference: Option<String>,
    /// Delivery to the finance bureau, once approved with a bureau configured.
    pub delivery: Option<Delivery>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// `pending`, `delivered`, `failed`, or `paid_by_hand` (never sent: staff recorded the payment).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The bureau's answer or the transport error of the last failed attempt.
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicePage {
    pub items: Vec<InvoiceView>,
    pub next_after: Option<String>,
}

fn ratio_text(learners: i64, with: i64) -> Option<String> {
    FollowupRatio {
        learners: u64::try_from(learners).unwrap_or(0),
        with_followup: u64::try_from(with).unwrap_or(0),
    }
    .ratio()
    .map(super::usage::ratio_text)
}

/// The invoices as answered, with their lines, first included completions and delivery: two
/// queries for any number of invoices and one per invoice for its completions.
fn views(conn: &mut DbConn, rows: Vec<InvoiceRow>) -> Result<Vec<InvoiceView>, ServiceError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut lines: HashMap<String, Vec<InvoiceLine>> = HashMap::new();
    for l in billing::lines_of(conn, &ids)? {
        lines.entry(l.invoice_id).or_default().push(InvoiceLine {
            kind: l.kind,
            level: l.level,
            class_hours: l.class_hours,
            amount: Money::from_fen(l.amount_fen),
        });
    }
    // The first page of each invoice's completions; an invoice over a million completions
    // pages the rest (`GET /v1/invoices/{id}/completions`).
    let first = Cursor {
        after: None,
        limit: COMPLETIONS_PAGE,
    };
    let mut completions = HashMap::with_capacity(rows.len());
    for row in &rows {
        completions.insert(row.id.clone(), completion_page(conn, row, &first)?);
    }
    let mut deliveries: HashMap<String, Delivery> = billing::outbox_of(conn, &ids)?
        .into_iter()
        .map(|o| {
            let delivery = Delivery {
                next_attempt_at: (o.status == "pending").then(|| utc(o.next_attempt_at)),
                status: o.status,
                attempts: o.attempts,
                last_error: o.last_error,
            };
            (o.invoice_id.unwrap_or_default(), delivery)
        })
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| InvoiceView {
            offline_ratio: ratio_text(row.learners, row.learners_with_followup),
            lines: lines.remove(&row.id).unwrap_or_default(),
            completions: completions
                .remove(&row.id)
                .expect("a page for every invoice"),
            delivery: deliveries.remove(&row.id),
            id: row.id,
            number: row.number,
            platform: row.platform_code,
            payer: row.payer_code,
            training_year: row.training_year,
            period: row.period,
            status: row.status,
            amount: Money::from_fen(row.amount_fen),
            granted_ytd: Money::from_fen(row.granted_ytd_fen),
            payable_ytd: Money::from_fen(row.payable_ytd_fen),
            previously_invoiced: Money::from_fen(row.previously_invoiced_fen),
            learners: row.learners,
            learners_with_followup: row.learners_with_followup,
            created_at: utc(row.created_at),
            created_by: row.created_by,
            issued_at: row.issued_at.map(utc),
            issued_by: row.issued_by,
            approved_at: row.approved_at.map(utc),
            approved_by: row.approved_by,
            rejected_at: row.rejected_at.map(utc),
            rejected_by: row.rejected_by,
            reject_reason: row.reject_reason,
            submitted_at: row.submitted_at.map(utc),
            paid_at: row.paid_at.map(utc),
            payment_reference: row.payment_reference,
        })
        .collect())
}

fn view(conn: &mut DbConn, row: InvoiceRow) -> Result<InvoiceView, ServiceError> {
    Ok(views(conn, vec![row])?.remove(0))
}

/// The invoice if the caller may see it: staff all, a platform its own, nobody else.
fn visible(conn: &mut DbConn, principal: &Principal, id: &str) -> Result<InvoiceRow, ServiceError> {
    let row = billing::find_invoice(conn, id)?.ok_or(ServiceError::NotFound("invoice"))?;
    let allowed = match principal.role {
        Role::Admin | Role::Finance => true,
        // The bureau reads only what it was sent.
        Role::Bureau => row.submitted_at.is_some(),
        Role::Platform => principal.platform.as_deref() == Some(row.platform_code.as_str()),
        Role::Learner | Role::VoucherSystem => false,
    };
    if allowed {
        Ok(row)
    } else {
        Err(ServiceError::NotFound("invoice"))
    }
}

/// A draft is issued only on the basis it was drafted on: the same counted invoice before it
/// and the same amount invoiced before. Otherwise (an earlier period issued or rejected since)
/// its amount would bill money twice or not at all: the period must be run again.
fn refuse_stale(conn: &mut DbConn, draft: &InvoiceRow) -> Result<(), ServiceError> {
    let (platform, payer, year) = (&draft.platform_code, &draft.payer_code, draft.training_year);
    let before = billing::last_counted(conn, platform, payer, year)?
        .map(|before| (window(&before).until, before.cutoff_generation));
    let previously = billing::previously_invoiced(conn, platform, payer, year)?;
    if before == draft.covered_until.zip(draft.covered_generation)
        && previously == draft.previously_invoiced_fen
    {
        return Ok(());
    }
    Err(ServiceError::conflict(
        "draft_stale",
        format!(
            "the invoices of {platform} counted before this draft changed since it was drafted \
             (invoiced before: {} then, {} now); run {} again",
            Money::from_fen(draft.previously_invoiced_fen),
            Money::from_fen(previously),
            draft.period
        ),
    ))
}

/// What a platform is told about its invoice when the invoice moves on.
pub(super) fn notice_data(row: &InvoiceRow) -> Value {
    json!({
        "invoice_id": row.id,
        "number": row.number,
        "platform": row.platform_code,
        "payer": row.payer_code,
        "training_year": row.training_year,
        "period": row.period,
        "status": row.status,
        "amount": Money::from_fen(row.amount_fen),
        "reason": row.reject_reason,
    })
}

fn snapshot(row: &InvoiceRow) -> Value {
    json!({"status": row.status, "number": row.number, "amount": Money::from_fen(row.amount_fen).to_string()})
}

/// How often a run drafts again when the counted invoices changed under its snapshot.
const RUN_ATTEMPTS: usize = 3;

/// One invoice run: a payer's period.
struct Run<'a> {
    period: BillingPeriod,
    payer: &'a str,
    actor: &'a str,
    stamp: NaiveDateTime,
}

type Draft = (InvoiceRow, Vec<InvoiceLineRow>);

impl Run<'_> {
    /// Drafts one invoice per platform with activity in the period's training year from the
    /// books as `conn`'s snapshot sees them, with the counted invoices it drafted against.
    fn draft(&self, conn: &mut DbConn) -> Result<(Vec<String>, Vec<Draft>), ServiceError> {
        let (payer, period) = (self.payer, self.period);
        let year = period.training_year();
        let end = period.end().naive_utc();
        let cutoff = ledger_generation(conn)?;
        catalog::find_payer(conn, payer)?.ok_or_else(|| {
            ServiceError::invalid("payer", "unknown_payer", "is not a known payer")
        })?;
        let schedule = catalog::schedule_for(conn, payer, year.value())?
            .map(|row| schedule_of(&row))
            .ok_or_else(|| {
                ServiceError::invalid(
                    "payer",
                    "no_rate_schedule",
                    format!("has no rate schedule for {year}"),
                )
            })?;
        let reduction = Reduction {
            threshold: schedule.offline_ratio_threshold,
            factor: schedule.offline_reduction_factor,
        };
        let platforms = billing::platforms_with_activity(conn, payer, year.value(), end)?;
        for platform in &platforms {
            if let Some(latest) = billing::latest_counted_period(conn, platform, payer)? {
                if latest.as_str() > period.to_string().as_str() {
                    return Err(ServiceError::conflict(
                        "period_already_invoiced",
                        format!("platform {platform} already has an invoice for {latest}"),
                    ));
                }
            }
        }
        let mut drafts = Vec::with_capacity(platforms.len());
        for platform in platforms {
            let covered = billing::last_counted(conn, &platform, payer, year.value())?
                .map(|before| (window(&before).until, before.cutoff_generation));
            let mut levels = BTreeMap::<Level, (i64, Money)>::new();
            let mut revoked = Money::ZERO;
            let mut included = 0;
            for row in billing::year_to_date(conn, &platform, payer, year.value(), end, covered)? {
                let level: Level = row.level.parse().expect("stored level is valid");
                levels.insert(level, (row.class_hours, Money::from_fen(row.granted_fen)));
                revoked = revoked + Money::from_fen(row.revoked_fen);
                included += row.newly_included;
            }
            let ytd = YearToDate {
                levels: levels.into_iter().map(|(l, (h, m))| (l, h, m)).collect(),
                revoked,
            };
            let (learners, with) = ledger::followup_counts(
                conn,
                &platform,
                payer,
                year.value(),
                year.first_day(),
                Some(end),
            )?;
            let ratio = FollowupRatio {
                learners: u64::try_from(learners).unwrap_or(0),
                with_followup: u64::try_from(with).unwrap_or(0),
            };
            let previously = Money::from_fen(billing::previously_invoiced(
                conn,
                &platform,
                payer,
                year.value(),
            )?);
            let statement = true_up(&ytd, ratio, reduction, previously);
            let invoice = InvoiceRow {
                id: new_id(),
                number: None,
                platform_code: platform,
                payer_code: payer.to_owned(),
                training_year: year.value(),
                period: period.to_string(),
                status: "draft".into(),
                amount_fen: statement.amount.fen(),
                granted_ytd_fen: statement.granted_ytd.fen(),
                payable_ytd_fen: statement.payable_ytd.fen(),
                previously_invoiced_fen: statement.previously_invoiced.fen(),
                learners,
                learners_with_followup: with,
                created_at: self.stamp,
                created_by: self.actor.to_owned(),
                issued_at: None,
                issued_by: None,
                approved_at: None,
                approved_by: None,
                rejected_at: None,
                rejected_by: None,
                reject_reason: None,
                submitted_at: None,
                paid_at: None,
                paid_by: None,
                payment_reference: None,
                cutoff_generation: cutoff,
                covered_until: covered.map(|(until, _)| until),
                covered_generation: covered.map(|(_, generation)| generation),
                completions_total: included,
            };
            let lines: Vec<InvoiceLineRow> = statement
                .lines
                .iter()
                .enumerate()
                .map(|(i, line)| InvoiceLineRow {
                    invoice_id: invoice.id.clone(),
                    position: i32::try_from(i).expect("few lines"),
                    kind: line.kind.as_str().to_owned(),
                    level: line.level.map(|l| l.as_str().to_owned()),
                    class_hours: line.class_hours,
                    amount_fen: line.amount.fen(),
                })
                .collect();
            drafts.push((invoice, lines));
        }
        Ok((billing::counted_ids(conn, payer, year.value())?, drafts))
    }
}

impl Gateway {
    /// Drafts one invoice per platform with activity in the period's training year, replacing
    /// the period's earlier drafts.
    pub fn run_invoices(
        &self,
        principal: &Principal,
        body: &Value,
    ) -> Result<Vec<InvoiceView>, ServiceError> {
        let mut refusals = Refusals::default();
        let reader = Reader::object(body, "", &mut refusals);
        let period = reader
            .as_ref()
            .and_then(|r| r.text("period", 7, &mut refusals))
            .and_then(|text| {
                refusals.take("period", "invalid_period", BillingPeriod::parse(&text))
            });
        let payer = match reader
            .as_ref()
            .map(|r| r.optional_text("payer", 64, &mut refusals))
        {
            Some(Some(None)) => Some("province".to_owned()),
            Some(Some(Some(_))) => reader
                .as_ref()
                .and_then(|r| code(r, "payer", &mut refusals)),
            _ => None,
        };
        refusals.into_result()?;
        let (period, payer) = (period.expect("checked"), payer.expect("checked"));
        let year = period.training_year();
        let now = self.now();
        if !year.claims_open_at(now) {
            return Err(ServiceError::invalid(
                "period",
                "claim_window_closed",
                format!("invoices for training year {year} closed on 31 December {year}"),
            ));
        }
        let actor = actor(principal);
        let run = Run {
            period,
            payer: &payer,
            actor: &actor,
            stamp: now.naive_utc(),
        };
        // Drafted from a snapshot that holds up no event; written under the ledger lock only if
        // the counted invoices it was drafted against are still those (another run or an issue
        // in between: draft again from a newer snapshot).
        for _ in 0..RUN_ATTEMPTS {
            let (counted, drafts) = self.store.snapshot(|conn| run.draft(conn))?;
            let written = self.store.write(|conn| {
                if billing::counted_ids(conn, &payer, year.value())? != counted {
                    return Ok(None);
                }
                billing::delete_drafts(conn, &payer, &period.to_string())?;
                for (invoice, lines) in &drafts {
                    billing::insert_invoice(conn, invoice, lines)?;
                    record(
                        conn,
                        run.stamp,
                        &actor,
                        "invoice.drafted",
                        ("invoice", &invoice.id),
                        None,
                        Some(snapshot(invoice)),
                    )?;
                }
                Ok::<_, ServiceError>(Some(()))
            })?;
            if written.is_some() {
                let drafted = drafts.into_iter().map(|(invoice, _)| invoice).collect();
                // Read after the commit: the answer lists included completions, which need
                // not hold up metering.
                return self.store.read(|conn| views(conn, drafted));
            }
        }
        Err(ServiceError::conflict(
            "invoices_changing",
            format!("the invoices of {payer} changed during {RUN_ATTEMPTS} runs; run again"),
        ))
    }

    pub fn list_invoices(
        &self,
        principal: &Principal,
        mut filter: InvoiceFilter,
    ) -> Result<InvoicePage, ServiceError> {
        match principal.role {
            Role::Admin | Role::Finance => {}
            Role::Platform => filter.platform = principal.platform.clone(),
            Role::Learner | Role::Bureau | Role::VoucherSystem => {
                return Err(ServiceError::Forbidden {
                    code: "forbidden",
                    detail: "this role may not list invoices".into(),
                })
            }
        }
        let limit = filter.limit;
        self.store.read(|conn| {
            let rows = billing::list_invoices(conn, &filter)?;
            let next_after = next_after(&rows, limit, |r| &r.id);
            Ok(InvoicePage {
                items: views(conn, rows)?,
                next_after,
            })
        })
    }

    /// A page of the completions an invoice newly includes.
    pub fn invoice_completions(
        &self,
        principal: &Principal,
        id: &str,
        page: &Cursor,
    ) -> Result<CompletionPage, ServiceError> {
        self.store.read(|conn| {
            let row = visible(conn, principal, id)?;
            completion_page(conn, &row, page)
        })
    }

    pub fn get_invoice(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<InvoiceView, ServiceError> {
        self.store.read(|conn| {
            let row = visible(conn, principal, id)?;
            view(conn, row)
        })
    }

    /// Moves an invoice along its lifecycle; `change` checks the state and fills the new one.
    fn transition(
        &self,
        principal: &Principal,
        id: &str,
        action: &str,
        change: impl FnOnce(
            &mut DbConn,
            &mut InvoiceRow,
            NaiveDateTime,
            &str,
        ) -> Result<(), ServiceError>,
    ) -> Result<InvoiceView, ServiceError> {
        let actor = actor(principal);
        let now = self.now().naive_utc();
        let view = self.store.write(|conn| {
            let mut row = visible(conn, principal, id)?;
            let before = snapshot(&row);
            change(conn, &mut row, now, &actor)?;
            billing::save_invoice(conn, &row)?;
            record(
                conn,
                now,
                &actor,
                action,
                ("invoice", &row.id),
                Some(before),
                Some(snapshot(&row)),
            )?;
            if let Some(event) = EventType::of_invoice_status(&row.status) {
                webhooks::notify(conn, now, &row.platform_code, event, notice_data(&row))?;
            }
            view(conn, row)
        })?;
        tracing::info!(invoice = %view.id, status = %view.status, actor = %actor, "invoice {action}");
        Ok(view)
    }

    /// What the review rule needs to know: the invoice's status and issuer, and who asks.
    fn facts_of(&self, status: &str, issued_by: Option<&str>, asker: &str) -> Option<Review> {
        Some(Review {
            status: InvoiceStatus::parse(status)?,
            issued_by_asker: issued_by.map(account_of) == Some(account_of(asker)),
            bureau_configured: self.bureau_configured,
        })
    }

    fn facts(&self, row: &InvoiceRow, actor: &str) -> Result<Review, ServiceError> {
        self.facts_of(&row.status, row.issued_by.as_deref(), actor)
            .ok_or_else(|| {
                ServiceError::Internal(format!(
                    "invoice {} has an unknown status {}",
                    row.id, row.status
                ))
            })
    }

    /// Refuses the action unless [`may`] allows it now.
    fn review(
        &self,
        row: &InvoiceRow,
        actor: &str,
        action: ReviewAction,
    ) -> Result<(), ServiceError> {
        may(action, self.facts(row, actor)?).map_err(|r| self.refused(row, action, r))
    }

    fn refused(
        &self,
        row: &InvoiceRow,
        action: ReviewAction,
        refusal: ReviewRefusal,
    ) -> ServiceError {
        match refusal {
            ReviewRefusal::Status => ServiceError::conflict(
                "invalid_transition",
                format!(
                    "invoice {} is {}; it cannot become {}",
                    row.id,
                    row.status,
                    action.target().as_str()
                ),
            ),
            ReviewRefusal::OwnIssue => ServiceError::Forbidden {
                code: "separation_of_duties",
                detail: "the user who issued an invoice cannot approve it".into(),
            },
            ReviewRefusal::BureauConfirms => ServiceError::conflict(
                "bureau_confirms_payments",
                "a bureau is configured: its payment confirmation marks invoices paid",
            ),
        }
    }

    /// Each finance action on this invoice, open or refused with its reason, for the asking
    /// officer: the console offers the open ones and says why the others are missing.
    pub fn review_actions(
        &self,
        principal: &Principal,
        invoice: &InvoiceView,
    ) -> Vec<(ReviewAction, Result<(), ReviewRefusal>)> {
        let asker = actor(principal);
        let Some(facts) = self.facts_of(&invoice.status, invoice.issued_by.as_deref(), &asker)
        else {
            return vec![];
        };
        ReviewAction::ALL
            .into_iter()
            .map(|action| (action, may(action, facts)))
            .collect()
    }

    pub fn issue_invoice(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<InvoiceView, ServiceError> {
        self.transition(principal, id, "invoice.issued", |conn, row, now, actor| {
            self.review(row, actor, ReviewAction::Issue)?;
            refuse_stale(conn, row)?;
            let n = billing::next_number(conn, &row.payer_code, row.training_year)?;
            row.number = Some(format!(
                "{}-{}-{n:06}",
                row.payer_code.to_uppercase(),
                row.training_year
            ));
            row.status = "issued".into();
            row.issued_at = Some(now);
            row.issued_by = Some(actor.to_owned());
            Ok(())
        })
    }

    /// Approves an issued invoice (never by its issuer) and queues it for the bureau.
    pub fn approve_invoice(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<InvoiceView, ServiceError> {
        self.transition(
            principal,
            id,
            "invoice.approved",
            |conn, row, now, actor| {
                self.review(row, actor, ReviewAction::Approve)?;
                row.status = "approved".into();
                row.approved_at = Some(now);
                row.approved_by = Some(actor.to_owned());
                // Queued even without a bureau: one configured later delivers it, and
                // reconciliation can hold every approved invoice to exactly one delivery.
                billing::insert_outbox(
                    conn,
                    &OutboxRow {
                        id: new_id(),
                        invoice_id: Some(row.id.clone()),
                        status: "pending".into(),
                        attempts: 0,
                        next_attempt_at: Utc::now().naive_utc(),
                        lease_until: None,
                        last_error: None,
                        created_at: Utc::now().naive_utc(),
                        delivered_at: None,
                        kind: "bureau".into(),
                        endpoint_id: None,
                        message_id: None,
                        event_type: None,
                        payload: None,
                        resent_at: None,
                    },
                )?;
                Ok(())
            },
        )
    }

    pub fn reject_invoice(
        &self,
        principal: &Principal,
        id: &str,
        body: &Value,
    ) -> Result<InvoiceView, ServiceError> {
        let reason = required_text(body, "reason")?;
        self.transition(principal, id, "invoice.rejected", |_, row, now, actor| {
            self.review(row, actor, ReviewAction::Reject)?;
            row.status = "rejected".into();
            row.rejected_at = Some(now);
            row.rejected_by = Some(actor.to_owned());
            row.reject_reason = Some(reason);
            Ok(())
        })
    }

    /// Staff record a payment by hand, only where no bureau system confirms payments.
    pub fn mark_invoice_paid(
        &self,
        principal: &Principal,
        id: &str,
        body: &Value,
    ) -> Result<InvoiceView, ServiceError> {
        let reference = required_text(body, "reference")?;
        self.transition(
            principal,
            id,
            "invoice.marked_paid",
            |conn, row, now, actor| {
                self.review(row, actor, ReviewAction::MarkPaid)?;
                paid(row, now, actor, reference);
                // Paid outside the gateway: the queued delivery must never be sent.
                billing::close_outbox(conn, &row.id, "paid_by_hand")?;
                Ok(())
            },
        )
    }

    /// The bureau confirms it paid an invoice it was sent: only a submitted one, and only when
    /// the number and amount it reports are this invoice's.
    pub fn confirm_payment(
        &self,
        principal: &Principal,
        id: &str,
        body: &Value,
    ) -> Result<InvoiceView, ServiceError> {
        let report = payment_report(body)?;
        self.transition(principal, id, "invoice.paid", |_, row, now, actor| {
            if row.status != InvoiceStatus::Submitted.as_str() {
                return Err(self.refused(row, ReviewAction::MarkPaid, ReviewRefusal::Status));
            }
            if row.number.as_deref() != Some(report.number.as_str())
                || row.amount_fen != report.amount.fen()
            {
                return Err(ServiceError::conflict(
                    "payment_mismatch",
                    "the reported number or amount is not this invoice's",
                ));
            }
            paid(row, now, actor, report.reference);
            Ok(())
        })
    }

    /// The invoice as CSV, UTF-8 with a byte-order mark so spreadsheet programs read Chinese.
    pub fn invoice_csv(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        let invoice = self.get_invoice(principal, id)?;
        let export_error = |e: &dyn std::fmt::Display| ServiceError::Export(format!("csv: {e}"));
        let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
        for row in statement_rows(&invoice) {
            writer.write_record(&row).map_err(|e| export_error(&e))?;
        }
        let bytes = writer.into_inner().map_err(|e| export_error(&e))?;
        Ok((format!("{}.csv", export_name(&invoice)), bytes))
    }

    /// The invoice as an Excel workbook: one sheet, the same rows as the CSV.
    pub fn invoice_xlsx(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        let invoice = self.get_invoice(principal, id)?;
        let name = export_name(&invoice);
        Ok((
            format!("{name}.xlsx"),
            workbook(&[(name.clone(), statement_rows(&invoice))])?,
        ))
    }

    /// A run's invoices (a payer's period) as one workbook: a summary sheet and one per invoice.
    pub fn run_xlsx(
        &self,
        principal: &Principal,
        payer: &str,
        period: &str,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        let period = BillingPeriod::parse(period)
            .map_err(|e| ServiceError::invalid("period", "invalid_period", e.to_string()))?;
        self.store.read(|conn| {
            catalog::find_payer(conn, payer)?.ok_or_else(|| {
                ServiceError::invalid("payer", "unknown_payer", "is not a known payer")
            })
        })?;
        let page = self.list_invoices(
            principal,
            InvoiceFilter {
                status: None,
                platform: None,
                payer: Some(payer.to_owned()),
                year: None,
                period: Some(period.to_string()),
                delivery: None,
                after: None,
                limit: 10_000,
            },
        )?;
        let mut summary = vec![vec![
            "platform".into(),
            "number".into(),
            "status".into(),
            "amount".into(),
        ]];
        summary.extend(page.items.iter().map(|i| {
            vec![
                i.platform.clone(),
                i.number.clone().unwrap_or_default(),
                i.status.clone(),
                i.amount.to_string(),
            ]
        }));
        let mut sheets = vec![("summary".to_owned(), summary)];
        sheets.extend(
            page.items
                .iter()
                .map(|i| (export_name(i), statement_rows(i))),
        );
        Ok((format!("{payer}-{period}.xlsx"), workbook(&sheets)?))
    }
}

fn export_name(invoice: &InvoiceView) -> String {
    invoice
        .number
        .clone()
        .unwrap_or_else(|| format!("draft-{}-{}", invoice.platform, invoice.period))
}

/// The statement as rows of text: the header fields, then the lines. Money stays text, exact.
fn statement_rows(invoice: &InvoiceView) -> Vec<Vec<String>> {
    let field =
        |name: &str, value: String| vec![name.to_owned(), value, String::new(), String::new()];
    let mut rows = vec![
        field("invoice", export_name(invoice)),
        field("platform", invoice.platform.clone()),
        field("payer", invoice.payer.clone()),
        field("training_year", invoice.training_year.to_string()),
        field("period", invoice.period.clone()),
        field("status", invoice.status.clone()),
        field("granted_ytd", invoice.granted_ytd.to_string()),
        field("payable_ytd", invoice.payable_ytd.to_string()),
        field(
            "previously_invoiced",
            invoice.previously_invoiced.to_string(),
        ),
        field(
            "offline_ratio",
            invoice.offline_ratio.clone().unwrap_or_default(),
        ),
        field("amount", invoice.amount.to_string()),
        vec![String::new(); 4],
        vec![
            "kind".into(),
            "level".into(),
            "class_hours".into(),
            "amount".into(),
        ],
    ];
    rows.extend(invoice.lines.iter().map(|line| {
        vec![
            line.kind.clone(),
            line.level.clone().unwrap_or_default(),
            line.class_hours.map(|h| h.to_string()).unwrap_or_default(),
            line.amount.to_string(),
        ]
    }));
    rows
}

pub(super) fn workbook(sheets: &[(String, Vec<Vec<String>>)]) -> Result<Vec<u8>, ServiceError> {
    let export_error = |e: rust_xlsxwriter::XlsxError| ServiceError::Export(format!("xlsx: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        // Sheet names are at most 31 characters.
        sheet
            .set_name(name.chars().take(31).collect::<String>())
            .map_err(export_error)?;
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                sheet
                    .write_string(
                        u32::try_from(r).unwrap_or(u32::MAX),
                        u16::try_from(c).unwrap_or(u16::MAX),
                        cell,
                    )
                    .map_err(export_error)?;
            }
        }
    }
    book.save_to_buffer().map_err(export_error)
}

fn paid(row: &mut InvoiceRow, now: NaiveDateTime, actor: &str, reference: String) {
    row.status = "paid".into();
    row.paid_at = Some(now);
    row.paid_by = Some(actor.to_owned());
    row.payment_reference = Some(reference);
}

/// What the bureau reports having paid.
struct PaymentReport {
    reference: String,
    number: String,
    amount: Money,
}

fn payment_report(body: &Value) -> Result<PaymentReport, ServiceError> {
    let mut refusals = Refusals::default();
    let reader = Reader::object(body, "", &mut refusals);
    let mut field = |key| {
        reader
            .as_ref()
            .and_then(|r| r.text(key, 500, &mut refusals))
    };
    let (reference, number, amount) = (field("reference"), field("number"), field("amount"));
    let amount = amount.and_then(|text| match Money::parse(&text) {
        Ok(amount) => Some(amount),
        Err(e) => {
            refusals.add("amount", "invalid_amount", e.to_string());
            None
        }
    });
    refusals.into_result()?;
    Ok(PaymentReport {
        reference: reference.expect("checked"),
        number: number.expect("checked"),
        amount: amount.expect("checked"),
    })
}

fn required_text(body: &Value, key: &str) -> Result<String, ServiceError> {
    let mut refusals = Refusals::default();
    let text =
        Reader::object(body, "", &mut refusals).and_then(|r| r.text(key, 500, &mut refusals));
    refusals.into_result()?;
    Ok(text.expect("checked"))
}

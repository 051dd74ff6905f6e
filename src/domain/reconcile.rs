//! Reconciliation: the invariants the books must satisfy, checked from first principles.
//!
//! The gateway keeps running totals (counters) so that metering is fast; reconciliation compares
//! them with what the individual grants add up to. It also checks the limits, the one-claim
//! rule, invoice arithmetic and that every approved invoice is queued for the bureau exactly
//! once. [`Reconciler`] takes the books one key at a time, so they can be streamed through it.

use super::Money;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What a running total counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CounterKey {
    Learner {
        payer: String,
        learner: String,
        year: i32,
    },
    Platform {
        payer: String,
        platform: String,
        year: i32,
    },
    Course {
        payer: String,
        course: String,
    },
}

impl fmt::Display for CounterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterKey::Learner {
                payer,
                learner,
                year,
            } => write!(f, "learner {learner} ({payer}, {year})"),
            CounterKey::Platform {
                payer,
                platform,
                year,
            } => write!(f, "platform {platform} ({payer}, {year})"),
            CounterKey::Course { payer, course } => write!(f, "course {course} ({payer})"),
        }
    }
}

/// One metered completion as stored: its grant must lie within `0..=gross`.
#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub completion: String,
    pub gross: Money,
    pub granted: Money,
}

#[derive(Debug, Clone)]
pub struct InvoiceRecord {
    pub id: String,
    pub status: String,
    pub amount: Money,
    pub payable_ytd: Money,
    pub previously_invoiced: Money,
    pub line_amounts: Vec<Money>,
}

/// A queued or finished delivery of an invoice to the bureau.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub invoice: String,
    pub status: String,
}

/// One violated invariant (or, for notices, something an operator must act on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code of the invariant.
    pub invariant: &'static str,
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clean,
    Breached,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Checked {
    pub completions: usize,
    pub counters: usize,
    pub claims: usize,
    pub invoices: usize,
    pub deliveries: usize,
    pub vouchers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub status: Verdict,
    pub checked: Checked,
    pub breaches: Vec<Finding>,
    /// Not a breach of the books, but money that waits on a person (a delivery the bureau refused).
    pub notices: Vec<Finding>,
}

/// Invoice states in which the invoice has been approved for payment.
const APPROVED_STATES: [&str; 3] = ["approved", "submitted", "paid"];

fn finding(invariant: &'static str, subject: impl fmt::Display, detail: String) -> Finding {
    Finding {
        invariant,
        subject: subject.to_string(),
        detail,
    }
}

/// Checks the books as they are fed to it, one record or one key at a time, so that the
/// caller can stream books of any size through it: every grant; every counter key with what
/// its live grants add up to; every learner × course with its live grants (its claims); then
/// the invoices and their deliveries.
#[derive(Debug, Default)]
pub struct Reconciler {
    checked: Checked,
    breaches: Vec<Finding>,
    notices: Vec<Finding>,
}

impl Reconciler {
    pub fn grant(&mut self, g: &GrantRecord) {
        self.checked.completions += 1;
        if g.granted < Money::ZERO || g.granted > g.gross {
            self.breaches.push(finding(
                "grant_out_of_range",
                format!("completion {}", g.completion),
                format!("granted {} is not within 0.00..={}", g.granted, g.gross),
            ));
        }
    }

    /// A live completion holding a voucher: it must be one the completion may hold (issued,
    /// not cancelled, of its payer and learner). Two holders of one voucher cannot be stored.
    pub fn redemption(&mut self, code: &str, status: &str, completion: &str, valid: bool) {
        self.checked.vouchers += 1;
        if !valid {
            self.breaches.push(finding(
                "voucher_mismatch",
                format!("voucher {code}"),
                format!(
                    "is held by completion {completion} but is {status}, or another payer's or \
                     learner's"
                ),
            ));
        }
    }

    /// A voucher stored as redeemed that no live completion holds.
    pub fn orphaned_voucher(&mut self, code: &str) {
        self.checked.vouchers += 1;
        self.breaches.push(finding(
            "voucher_orphaned",
            format!("voucher {code}"),
            "is stored as redeemed, but no live completion holds it".into(),
        ));
    }

    /// A live accepted completion of a payer that required vouchers when it was recorded, and
    /// which holds none.
    pub fn unvouched(&mut self, completion: &str) {
        self.breaches.push(finding(
            "voucher_missing",
            format!("completion {completion}"),
            "was paid by a payer that requires vouchers, without one".into(),
        ));
    }

    /// A course with completions that is not marked frozen: its level and class hours could
    /// change under them.
    pub fn unfrozen_course(&mut self, course: &str) {
        self.breaches.push(finding(
            "course_unfrozen",
            format!("course {course}"),
            "has completions, but is not frozen".into(),
        ));
    }

    /// A completion names a platform, course, learner, payer or schedule version that does not
    /// exist.
    pub fn dangling(&mut self, completion: &str, missing: &str) {
        self.breaches.push(finding(
            "reference_missing",
            format!("completion {completion}"),
            format!("names a {missing} that does not exist"),
        ));
    }

    /// A counter key: what its live grants add up to, the largest limit they were priced
    /// under (if any), and the stored running total (if one exists).
    pub fn counter(
        &mut self,
        key: &CounterKey,
        sum: Money,
        limit: Option<Money>,
        stored: Option<Money>,
    ) {
        let Some(value) = stored else {
            if !sum.is_zero() {
                self.breaches.push(finding(
                    "counter_missing",
                    key,
                    format!("grants add up to {sum} but no counter records them"),
                ));
            }
            return;
        };
        self.checked.counters += 1;
        if value != sum {
            self.breaches.push(finding(
                "counter_mismatch",
                key,
                format!("counter {value} but its grants add up to {sum}"),
            ));
        }
        if let Some(limit) = limit.filter(|limit| value > *limit) {
            self.breaches.push(finding(
                "over_limit",
                key,
                format!("counter {value} is above its limit {limit}"),
            ));
        }
    }

    /// The one-claim rule is the database's unique index on live grants: without it nothing
    /// stops a second payment, whether or not one has happened yet.
    pub fn claim_index(&mut self, present: bool) {
        if !present {
            self.breaches.push(finding(
                "claim_index_missing",
                "index completions_by_claim",
                "the unique index on live grants is gone: a learner could be paid twice for a course"
                    .into(),
            ));
        }
    }

    /// A learner on a course and its live grants: each holds the claim, so at most one may be
    /// paid. The database's unique index keeps it so; a second one means the index was lost.
    pub fn claim(&mut self, learner: impl fmt::Display, course: &str, live: &[String]) {
        self.checked.claims += 1;
        if live.len() > 1 {
            self.breaches.push(finding(
                "paid_twice",
                format!("learner {learner} on course {course}"),
                format!("{} live grants: {}", live.len(), live.join(", ")),
            ));
        }
    }

    /// Invoice arithmetic, and one delivery for every approved invoice.
    pub fn invoices(&mut self, invoices: &[InvoiceRecord], deliveries: &[DeliveryRecord]) {
        self.checked.invoices += invoices.len();
        self.checked.deliveries += deliveries.len();
        for invoice in invoices {
            let lines: Money = invoice.line_amounts.iter().copied().sum();
            if lines != invoice.amount {
                self.breaches.push(finding(
                    "invoice_lines_mismatch",
                    format!("invoice {}", invoice.id),
                    format!(
                        "lines add up to {lines}, the invoice says {}",
                        invoice.amount
                    ),
                ));
            }
            if invoice.payable_ytd - invoice.previously_invoiced != invoice.amount {
                self.breaches.push(finding(
                    "invoice_true_up_mismatch",
                    format!("invoice {}", invoice.id),
                    format!(
                        "payable to date {} less previously invoiced {} is not the amount {}",
                        invoice.payable_ytd, invoice.previously_invoiced, invoice.amount
                    ),
                ));
            }
        }
        self.deliveries(invoices, deliveries);
    }

    fn deliveries(&mut self, invoices: &[InvoiceRecord], deliveries: &[DeliveryRecord]) {
        let mut by_invoice: BTreeMap<&str, Vec<&DeliveryRecord>> = BTreeMap::new();
        for d in deliveries {
            by_invoice.entry(&d.invoice).or_default().push(d);
        }
        for invoice in invoices {
            let subject = format!("invoice {}", invoice.id);
            let deliveries = by_invoice.remove(invoice.id.as_str()).unwrap_or_default();
            let approved = APPROVED_STATES.contains(&invoice.status.as_str());
            match (approved, deliveries.as_slice()) {
                (false, []) => {}
                (false, _) => self.breaches.push(finding(
                    "delivery_unexpected",
                    subject,
                    format!("a {} invoice is queued for the bureau", invoice.status),
                )),
                (true, []) => self.breaches.push(finding(
                    "delivery_missing",
                    subject,
                    format!(
                        "a {} invoice was never queued for the bureau",
                        invoice.status
                    ),
                )),
                (true, [one]) => {
                    if invoice.status == "submitted" && one.status != "delivered" {
                        self.breaches.push(finding(
                            "delivery_inconsistent",
                            subject,
                            format!("submitted, but its delivery is {}", one.status),
                        ));
                    } else if one.status == "failed" {
                        self.notices.push(finding(
                            "delivery_failed",
                            subject,
                            "the bureau refused the delivery; an operator must act".into(),
                        ));
                    }
                }
                (true, many) => self.breaches.push(finding(
                    "delivery_duplicated",
                    subject,
                    format!("{} deliveries", many.len()),
                )),
            }
        }
        for invoice in by_invoice.keys() {
            self.breaches.push(finding(
                "delivery_orphaned",
                format!("invoice {invoice}"),
                "a delivery for an invoice that does not exist".into(),
            ));
        }
    }

    pub fn finish(self) -> Reconciliation {
        Reconciliation {
            status: if self.breaches.is_empty() {
                Verdict::Clean
            } else {
                Verdict::Breached
            },
            checked: self.checked,
            breaches: self.breaches,
            notices: self.notices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn fen(n: i64) -> Money {
        Money::from_fen(n)
    }

    /// A grant with the keys it counts under, as the ledger holds it.
    #[derive(Debug, Clone)]
    struct LedgerGrant {
        completion: String,
        payer: String,
        platform: String,
        learner: String,
        course: String,
        year: i32,
        gross: Money,
        granted: Money,
        live: bool,
    }

    impl LedgerGrant {
        fn counters(&self) -> [CounterKey; 3] {
            [
                CounterKey::Learner {
                    payer: self.payer.clone(),
                    learner: self.learner.clone(),
                    year: self.year,
                },
                CounterKey::Platform {
                    payer: self.payer.clone(),
                    platform: self.platform.clone(),
                    year: self.year,
                },
                CounterKey::Course {
                    payer: self.payer.clone(),
                    course: self.course.clone(),
                },
            ]
        }
    }

    struct CounterRecord {
        key: CounterKey,
        value: Money,
        limit: Option<Money>,
    }

    #[derive(Default)]
    struct Books {
        grants: Vec<LedgerGrant>,
        counters: Vec<CounterRecord>,
        invoices: Vec<InvoiceRecord>,
        deliveries: Vec<DeliveryRecord>,
    }

    /// Groups books held in memory by key and feeds them to a [`Reconciler`], as the service
    /// does with the grouped rows of its queries.
    fn reconcile(books: &Books) -> Reconciliation {
        let mut reconciler = Reconciler::default();
        let mut sums: BTreeMap<CounterKey, Money> = BTreeMap::new();
        let mut live: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for g in &books.grants {
            reconciler.grant(&GrantRecord {
                completion: g.completion.clone(),
                gross: g.gross,
                granted: g.granted,
            });
            if g.live {
                for key in g.counters() {
                    let sum = sums.entry(key).or_insert(Money::ZERO);
                    *sum = *sum + g.granted;
                }
                live.entry((g.learner.clone(), g.course.clone()))
                    .or_default()
                    .push(g.completion.clone());
            }
        }
        let stored: BTreeMap<&CounterKey, &CounterRecord> =
            books.counters.iter().map(|c| (&c.key, c)).collect();
        let keys: BTreeSet<&CounterKey> = sums.keys().chain(stored.keys().copied()).collect();
        for key in keys {
            let counter = stored.get(key);
            reconciler.counter(
                key,
                sums.get(key).copied().unwrap_or(Money::ZERO),
                counter.and_then(|c| c.limit),
                counter.map(|c| c.value),
            );
        }
        for ((learner, course), grants) in &live {
            reconciler.claim(learner, course, grants);
        }
        reconciler.invoices(&books.invoices, &books.deliveries);
        reconciler.finish()
    }

    fn grant(completion: &str, learner: &str, course: &str, granted: i64) -> LedgerGrant {
        LedgerGrant {
            completion: completion.into(),
            payer: "province".into(),
            platform: "p1".into(),
            learner: learner.into(),
            course: course.into(),
            year: 2022,
            gross: fen(granted.max(0)),
            granted: fen(granted),
            live: true,
        }
    }

    /// Books made consistent by construction from the grants: counters and limits.
    fn consistent(grants: Vec<LedgerGrant>, limit: i64) -> Books {
        let mut totals: BTreeMap<CounterKey, Money> = BTreeMap::new();
        for g in grants.iter().filter(|g| g.live) {
            for key in g.counters() {
                let total = totals.get(&key).copied().unwrap_or(Money::ZERO) + g.granted;
                totals.insert(key, total);
            }
        }
        Books {
            counters: totals
                .into_iter()
                .map(|(key, value)| CounterRecord {
                    key,
                    value,
                    limit: Some(fen(limit)),
                })
                .collect(),
            grants,
            ..Books::default()
        }
    }

    fn codes(r: &Reconciliation) -> Vec<&'static str> {
        r.breaches.iter().map(|b| b.invariant).collect()
    }

    #[test]
    fn consistent_books_are_clean() {
        let mut revoked = grant("c3", "l2", "k1", 500);
        revoked.live = false;
        let books = consistent(
            vec![
                grant("c1", "l1", "k1", 1200),
                grant("c2", "l1", "k2", 900),
                revoked,
            ],
            30_000,
        );
        let r = reconcile(&books);
        assert_eq!(r.status, Verdict::Clean, "{:?}", r.breaches);
        assert_eq!(r.checked.completions, 3);
        assert_eq!(r.checked.counters, 4);
    }

    #[test]
    fn a_counter_that_drifts_from_its_grants_is_a_breach() {
        let mut books = consistent(vec![grant("c1", "l1", "k1", 1200)], 30_000);
        books.counters[0].value = fen(1201);
        assert_eq!(codes(&reconcile(&books)), ["counter_mismatch"]);
        books.counters.remove(0);
        assert_eq!(codes(&reconcile(&books)), ["counter_missing"]);
    }

    #[test]
    fn a_counter_above_its_limit_is_a_breach() {
        // 300.01 yuan for one learner: the worked cap of RULES.md §2 is 300.00.
        let books = consistent(vec![grant("c1", "l1", "k1", 30_001)], 30_000);
        let r = reconcile(&books);
        assert!(codes(&r).iter().all(|c| *c == "over_limit"), "{r:?}");
        assert_eq!(r.breaches.len(), 3);
    }

    #[test]
    fn one_learner_paid_twice_for_a_course_is_a_breach() {
        let books = consistent(
            vec![grant("c1", "l1", "k1", 300), grant("c2", "l1", "k1", 300)],
            30_000,
        );
        let r = reconcile(&books);
        assert!(codes(&r).contains(&"paid_twice"), "{r:?}");
        assert_eq!(r.checked.claims, 1);
    }

    #[test]
    fn a_lost_claim_index_is_a_breach_before_anyone_is_paid_twice() {
        let mut reconciler = Reconciler::default();
        reconciler.claim_index(true);
        assert_eq!(reconciler.finish().status, Verdict::Clean);
        let mut reconciler = Reconciler::default();
        reconciler.claim_index(false);
        assert_eq!(codes(&reconciler.finish()), ["claim_index_missing"]);
    }

    #[test]
    fn a_grant_above_its_gross_or_negative_is_a_breach() {
        let mut g = grant("c1", "l1", "k1", 300);
        g.gross = fen(299);
        assert_eq!(
            codes(&reconcile(&consistent(vec![g], 30_000))),
            ["grant_out_of_range"]
        );
    }

    fn invoice(id: &str, status: &str, amount: i64, lines: &[i64]) -> InvoiceRecord {
        InvoiceRecord {
            id: id.into(),
            status: status.into(),
            amount: fen(amount),
            payable_ytd: fen(amount + 1000),
            previously_invoiced: fen(1000),
            line_amounts: lines.iter().map(|f| fen(*f)).collect(),
        }
    }

    #[test]
    fn invoice_lines_and_true_up_must_add_up() {
        // RULES.md §4 worked example: 50.00 granted, 25.00 withheld.
        let mut books = Books {
            invoices: vec![invoice("i1", "draft", 2500, &[5000, -2500])],
            ..Books::default()
        };
        assert_eq!(reconcile(&books).status, Verdict::Clean);
        books.invoices[0].line_amounts.push(fen(1));
        books.invoices[0].previously_invoiced = fen(0);
        assert_eq!(
            codes(&reconcile(&books)),
            ["invoice_lines_mismatch", "invoice_true_up_mismatch"]
        );
    }

    #[test]
    fn every_approved_invoice_is_queued_exactly_once() {
        let delivery = |invoice: &str, status: &str| DeliveryRecord {
            invoice: invoice.into(),
            status: status.into(),
        };
        let mut books = Books {
            invoices: vec![
                invoice("draft", "draft", 100, &[100]),
                invoice("approved", "approved", 100, &[100]),
                invoice("submitted", "submitted", 100, &[100]),
                invoice("refused", "approved", 100, &[100]),
            ],
            deliveries: vec![
                delivery("approved", "pending"),
                delivery("submitted", "delivered"),
                delivery("refused", "failed"),
            ],
            ..Books::default()
        };
        let r = reconcile(&books);
        assert_eq!(r.status, Verdict::Clean, "{r:?}");
        assert_eq!(
            r.notices.iter().map(|n| n.invariant).collect::<Vec<_>>(),
            ["delivery_failed"]
        );
        books.deliveries[1].status = "pending".into();
        books.deliveries.push(delivery("approved", "pending"));
        books.deliveries.push(delivery("draft", "pending"));
        books.deliveries.push(delivery("ghost", "pending"));
        books.invoices.push(invoice("lost", "paid", 100, &[100]));
        assert_eq!(
            codes(&reconcile(&books)),
            [
                "delivery_unexpected",
                "delivery_duplicated",
                "delivery_inconsistent",
                "delivery_missing",
                "delivery_orphaned"
            ]
        );
    }

    proptest! {
        /// Books built consistently from any grants are clean; moving one counter by any
        /// non-zero amount is always caught.
        #[test]
        fn any_drift_is_caught(
            amounts in prop::collection::vec((0u8..4, 0u8..4, 0i64..5_000, any::<bool>()), 1..40),
            which in any::<prop::sample::Index>(),
            drift in prop_oneof![-10_000i64..0, 1i64..10_000],
        ) {
            let grants: Vec<_> = amounts
                .iter()
                .enumerate()
                .map(|(i, (learner, course, granted, live))| LedgerGrant {
                    // Unique learner × course per live grant keeps the one-claim rule.
                    learner: format!("l{learner}-{i}"),
                    live: *live,
                    ..grant(&format!("c{i}"), "", &format!("k{course}"), *granted)
                })
                .collect();
            let mut books = consistent(grants, i64::MAX / 4);
            prop_assert_eq!(reconcile(&books).status, Verdict::Clean);
            if !books.counters.is_empty() {
                let i = which.index(books.counters.len());
                books.counters[i].value = books.counters[i].value + fen(drift);
                let r = reconcile(&books);
                prop_assert!(codes(&r).contains(&"counter_mismatch"));
            }
        }
    }
}

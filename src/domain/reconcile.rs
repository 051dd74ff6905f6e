//! Reconciliation: the invariants the books must satisfy, checked from first principles.
//!
//! The gateway keeps running totals (counters) so that metering is fast; this module recomputes
//! them from the individual grants and compares. It also checks the limits, the one-claim rule,
//! invoice arithmetic and that every approved invoice is queued for the bureau exactly once.

use super::Money;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
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

/// One metered completion as stored.
#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub completion: String,
    pub payer: String,
    pub platform: String,
    pub learner: String,
    pub course: String,
    pub year: i32,
    pub gross: Money,
    pub granted: Money,
    /// Accepted and not revoked: it counts against the limits.
    pub live: bool,
}

impl GrantRecord {
    pub fn counters(&self) -> [CounterKey; 3] {
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

/// A stored running total and the limit it must stay within (if one applies).
#[derive(Debug, Clone)]
pub struct CounterRecord {
    pub key: CounterKey,
    pub value: Money,
    pub limit: Option<Money>,
}

/// The claim index: which completion holds the paid claim of a learner on a course.
#[derive(Debug, Clone)]
pub struct ClaimRecord {
    pub learner: String,
    pub course: String,
    pub completion: String,
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

/// Everything reconciliation looks at, read in one consistent snapshot.
#[derive(Debug, Default)]
pub struct Books {
    pub grants: Vec<GrantRecord>,
    pub counters: Vec<CounterRecord>,
    pub claims: Vec<ClaimRecord>,
    pub invoices: Vec<InvoiceRecord>,
    pub deliveries: Vec<DeliveryRecord>,
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

#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub completions: usize,
    pub counters: usize,
    pub claims: usize,
    pub invoices: usize,
    pub deliveries: usize,
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

pub fn reconcile(books: &Books) -> Reconciliation {
    let mut breaches = vec![];
    let mut notices = vec![];
    check_grants(books, &mut breaches);
    check_counters(books, &mut breaches);
    check_claims(books, &mut breaches);
    check_invoices(books, &mut breaches);
    check_deliveries(books, &mut breaches, &mut notices);
    Reconciliation {
        status: if breaches.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Breached
        },
        checked: Checked {
            completions: books.grants.len(),
            counters: books.counters.len(),
            claims: books.claims.len(),
            invoices: books.invoices.len(),
            deliveries: books.deliveries.len(),
        },
        breaches,
        notices,
    }
}

fn finding(invariant: &'static str, subject: impl fmt::Display, detail: String) -> Finding {
    Finding {
        invariant,
        subject: subject.to_string(),
        detail,
    }
}

fn check_grants(books: &Books, breaches: &mut Vec<Finding>) {
    for g in &books.grants {
        if g.granted < Money::ZERO || g.granted > g.gross {
            breaches.push(finding(
                "grant_out_of_range",
                format!("completion {}", g.completion),
                format!("granted {} is not within 0.00..={}", g.granted, g.gross),
            ));
        }
    }
}

fn check_counters(books: &Books, breaches: &mut Vec<Finding>) {
    let mut sums: BTreeMap<CounterKey, Money> = BTreeMap::new();
    for g in books.grants.iter().filter(|g| g.live) {
        for key in g.counters() {
            let total = sums.entry(key).or_insert(Money::ZERO);
            *total = *total + g.granted;
        }
    }
    let mut seen = BTreeSet::new();
    for counter in &books.counters {
        seen.insert(&counter.key);
        let sum = sums.get(&counter.key).copied().unwrap_or(Money::ZERO);
        if counter.value != sum {
            breaches.push(finding(
                "counter_mismatch",
                &counter.key,
                format!("counter {} but its grants add up to {sum}", counter.value),
            ));
        }
        if let Some(limit) = counter.limit {
            if counter.value > limit {
                breaches.push(finding(
                    "over_limit",
                    &counter.key,
                    format!("counter {} is above its limit {limit}", counter.value),
                ));
            }
        }
    }
    for (key, sum) in sums {
        if !seen.contains(&key) && !sum.is_zero() {
            breaches.push(finding(
                "counter_missing",
                &key,
                format!("grants add up to {sum} but no counter records them"),
            ));
        }
    }
}

fn check_claims(books: &Books, breaches: &mut Vec<Finding>) {
    let mut live_by_pair: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for g in books.grants.iter().filter(|g| g.live) {
        live_by_pair
            .entry((&g.learner, &g.course))
            .or_default()
            .push(&g.completion);
    }
    for ((learner, course), completions) in &live_by_pair {
        if completions.len() > 1 {
            breaches.push(finding(
                "paid_twice",
                format!("learner {learner} on course {course}"),
                format!(
                    "{} live grants: {}",
                    completions.len(),
                    completions.join(", ")
                ),
            ));
        }
    }
    let claimed: BTreeMap<(&str, &str), &str> = books
        .claims
        .iter()
        .map(|c| {
            (
                (c.learner.as_str(), c.course.as_str()),
                c.completion.as_str(),
            )
        })
        .collect();
    for (pair, completions) in &live_by_pair {
        if claimed.get(pair).is_none_or(|c| !completions.contains(c)) {
            breaches.push(finding(
                "claim_missing",
                format!("learner {} on course {}", pair.0, pair.1),
                "a live grant holds no claim, so a second one could be paid".into(),
            ));
        }
    }
    for (pair, completion) in &claimed {
        if !live_by_pair.contains_key(pair) {
            breaches.push(finding(
                "claim_stale",
                format!("learner {} on course {}", pair.0, pair.1),
                format!("claim held by {completion}, which is not a live grant"),
            ));
        }
    }
}

fn check_invoices(books: &Books, breaches: &mut Vec<Finding>) {
    for invoice in &books.invoices {
        let lines: Money = invoice.line_amounts.iter().copied().sum();
        if lines != invoice.amount {
            breaches.push(finding(
                "invoice_lines_mismatch",
                format!("invoice {}", invoice.id),
                format!(
                    "lines add up to {lines}, the invoice says {}",
                    invoice.amount
                ),
            ));
        }
        if invoice.payable_ytd - invoice.previously_invoiced != invoice.amount {
            breaches.push(finding(
                "invoice_true_up_mismatch",
                format!("invoice {}", invoice.id),
                format!(
                    "payable to date {} less previously invoiced {} is not the amount {}",
                    invoice.payable_ytd, invoice.previously_invoiced, invoice.amount
                ),
            ));
        }
    }
}

fn check_deliveries(books: &Books, breaches: &mut Vec<Finding>, notices: &mut Vec<Finding>) {
    let mut by_invoice: BTreeMap<&str, Vec<&DeliveryRecord>> = BTreeMap::new();
    for d in &books.deliveries {
        by_invoice.entry(&d.invoice).or_default().push(d);
    }
    for invoice in &books.invoices {
        let subject = format!("invoice {}", invoice.id);
        let deliveries = by_invoice.remove(invoice.id.as_str()).unwrap_or_default();
        let approved = APPROVED_STATES.contains(&invoice.status.as_str());
        match (approved, deliveries.as_slice()) {
            (false, []) => {}
            (false, _) => breaches.push(finding(
                "delivery_unexpected",
                subject,
                format!("a {} invoice is queued for the bureau", invoice.status),
            )),
            (true, []) => breaches.push(finding(
                "delivery_missing",
                subject,
                format!(
                    "a {} invoice was never queued for the bureau",
                    invoice.status
                ),
            )),
            (true, [one]) => {
                if invoice.status == "submitted" && one.status != "delivered" {
                    breaches.push(finding(
                        "delivery_inconsistent",
                        subject,
                        format!("submitted, but its delivery is {}", one.status),
                    ));
                } else if one.status == "failed" {
                    notices.push(finding(
                        "delivery_failed",
                        subject,
                        "the bureau refused the delivery; an operator must act".into(),
                    ));
                }
            }
            (true, many) => breaches.push(finding(
                "delivery_duplicated",
                subject,
                format!("{} deliveries", many.len()),
            )),
        }
    }
    for invoice in by_invoice.keys() {
        breaches.push(finding(
            "delivery_orphaned",
            format!("invoice {invoice}"),
            "a delivery for an invoice that does not exist".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fen(n: i64) -> Money {
        Money::from_fen(n)
    }

    fn grant(completion: &str, learner: &str, course: &str, granted: i64) -> GrantRecord {
        GrantRecord {
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

    /// Books made consistent by construction from the grants: counters, limits and claims.
    fn consistent(grants: Vec<GrantRecord>, limit: i64) -> Books {
        let mut totals: BTreeMap<CounterKey, Money> = BTreeMap::new();
        for g in grants.iter().filter(|g| g.live) {
            for key in g.counters() {
                let total = totals.get(&key).copied().unwrap_or(Money::ZERO) + g.granted;
                totals.insert(key, total);
            }
        }
        let claims = grants
            .iter()
            .filter(|g| g.live)
            .map(|g| ClaimRecord {
                learner: g.learner.clone(),
                course: g.course.clone(),
                completion: g.completion.clone(),
            })
            .collect();
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
            claims,
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
    }

    #[test]
    fn claims_must_match_the_live_grants() {
        let mut books = consistent(vec![grant("c1", "l1", "k1", 300)], 30_000);
        let claim = books.claims.pop().unwrap();
        assert_eq!(codes(&reconcile(&books)), ["claim_missing"]);
        books.claims.push(ClaimRecord {
            course: "k9".into(),
            ..claim
        });
        assert_eq!(codes(&reconcile(&books)), ["claim_missing", "claim_stale"]);
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
                .map(|(i, (learner, course, granted, live))| GrantRecord {
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

//! What platforms are told about their money: the event types of the messages they can
//! subscribe to, and when a grant carries a platform across its annual ceiling's thresholds.

use super::Money;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "invoice.issued")]
    InvoiceIssued,
    #[serde(rename = "invoice.approved")]
    InvoiceApproved,
    #[serde(rename = "invoice.rejected")]
    InvoiceRejected,
    #[serde(rename = "invoice.submitted")]
    InvoiceSubmitted,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    /// A course entered its free phase (RULES.md §3).
    #[serde(rename = "course.saturated")]
    CourseSaturated,
    /// The platform's grants reached 80 % of its annual ceiling.
    #[serde(rename = "platform.ceiling_warning")]
    CeilingWarning,
    /// The platform's grants reached its annual ceiling: further completions are paid nothing.
    #[serde(rename = "platform.ceiling_reached")]
    CeilingReached,
    #[serde(rename = "completion.revoked")]
    CompletionRevoked,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::InvoiceIssued,
        EventType::InvoiceApproved,
        EventType::InvoiceRejected,
        EventType::InvoiceSubmitted,
        EventType::InvoicePaid,
        EventType::CourseSaturated,
        EventType::CeilingWarning,
        EventType::CeilingReached,
        EventType::CompletionRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::InvoiceIssued => "invoice.issued",
            EventType::InvoiceApproved => "invoice.approved",
            EventType::InvoiceRejected => "invoice.rejected",
            EventType::InvoiceSubmitted => "invoice.submitted",
            EventType::InvoicePaid => "invoice.paid",
            EventType::CourseSaturated => "course.saturated",
            EventType::CeilingWarning => "platform.ceiling_warning",
            EventType::CeilingReached => "platform.ceiling_reached",
            EventType::CompletionRevoked => "completion.revoked",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The message an invoice's move into `status` sends, if any.
    pub fn of_invoice_status(status: &str) -> Option<EventType> {
        match status {
            "issued" => Some(EventType::InvoiceIssued),
            "approved" => Some(EventType::InvoiceApproved),
            "rejected" => Some(EventType::InvoiceRejected),
            "submitted" => Some(EventType::InvoiceSubmitted),
            "paid" => Some(EventType::InvoicePaid),
            _ => None,
        }
    }
}

/// The ceiling thresholds a platform's grants crossed going from `before` to `after`: the
/// warning at 80 % and the ceiling itself, each when it is crossed upwards (a revocation that
/// takes the platform back under a threshold lets a later grant cross it again).
pub fn ceiling_crossings(before: Money, after: Money, ceiling: Money) -> Vec<EventType> {
    // 80 % compared exactly, in fen: 5 × granted ≥ 4 × ceiling.
    let warned = |granted: Money| i128::from(granted.fen()) * 5 >= i128::from(ceiling.fen()) * 4;
    let mut crossed = vec![];
    if !warned(before) && warned(after) {
        crossed.push(EventType::CeilingWarning);
    }
    if before < ceiling && after >= ceiling {
        crossed.push(EventType::CeilingReached);
    }
    crossed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn yuan(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    #[test]
    fn the_platform_ceiling_of_rules_md_warns_at_2_4_million_and_is_reached_at_3() {
        let ceiling = yuan("3000000.00");
        assert!(ceiling_crossings(yuan("2399999.99"), yuan("2399999.99"), ceiling).is_empty());
        assert_eq!(
            ceiling_crossings(yuan("2399999.99"), yuan("2400000.00"), ceiling),
            vec![EventType::CeilingWarning]
        );
        assert!(ceiling_crossings(yuan("2400000.00"), yuan("2999999.99"), ceiling).is_empty());
        assert_eq!(
            ceiling_crossings(yuan("2999999.99"), yuan("3000000.00"), ceiling),
            vec![EventType::CeilingReached]
        );
        // One grant over both thresholds sends both, the warning first.
        assert_eq!(
            ceiling_crossings(yuan("100.00"), yuan("3000000.00"), ceiling),
            vec![EventType::CeilingWarning, EventType::CeilingReached]
        );
        // Going down (a revocation) announces nothing.
        assert!(ceiling_crossings(yuan("3000000.00"), yuan("10.00"), ceiling).is_empty());
    }

    #[test]
    fn every_event_type_reads_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(EventType::parse("invoice.lost"), None);
    }

    proptest! {
        /// Grants applied one by one announce each threshold exactly once on the way up.
        #[test]
        fn each_threshold_is_announced_once_on_the_way_up(
            grants in proptest::collection::vec(0i64..200_000, 1..60),
            ceiling in 1i64..5_000_000,
        ) {
            let ceiling = Money::from_fen(ceiling);
            let mut granted = Money::ZERO;
            let mut announced = vec![];
            for fen in grants {
                let after = granted + Money::from_fen(fen);
                announced.extend(ceiling_crossings(granted, after, ceiling));
                granted = after;
            }
            let warned = i128::from(granted.fen()) * 5 >= i128::from(ceiling.fen()) * 4;
            let expected_warnings = usize::from(warned);
            let expected_reached = usize::from(granted >= ceiling);
            prop_assert_eq!(announced.iter().filter(|t| **t == EventType::CeilingWarning).count(), expected_warnings);
            prop_assert_eq!(announced.iter().filter(|t| **t == EventType::CeilingReached).count(), expected_reached);
        }
    }
}

//! The finance review of an invoice: which of its actions a finance officer may take now, and
//! why not. The service checks an action with [`may`] before it changes anything, and the
//! console asks the same function which buttons to offer, so the rule lives once.

/// An invoice's place in its lifecycle: drafted by a run, issued and approved by two different
/// finance officers (or rejected), submitted to the bureau, paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    Draft,
    Issued,
    Approved,
    Submitted,
    Paid,
    Rejected,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 6] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Issued,
        InvoiceStatus::Approved,
        InvoiceStatus::Submitted,
        InvoiceStatus::Paid,
        InvoiceStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Approved => "approved",
            InvoiceStatus::Submitted => "submitted",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<InvoiceStatus> {
        InvoiceStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What a finance officer does to an invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewAction {
    Issue,
    Approve,
    Reject,
    MarkPaid,
}

impl ReviewAction {
    pub const ALL: [ReviewAction; 4] = [
        ReviewAction::Issue,
        ReviewAction::Approve,
        ReviewAction::Reject,
        ReviewAction::MarkPaid,
    ];

    /// The status the action leads to.
    pub fn target(self) -> InvoiceStatus {
        match self {
            ReviewAction::Issue => InvoiceStatus::Issued,
            ReviewAction::Approve => InvoiceStatus::Approved,
            ReviewAction::Reject => InvoiceStatus::Rejected,
            ReviewAction::MarkPaid => InvoiceStatus::Paid,
        }
    }
}

/// Why an action is not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewRefusal {
    /// The invoice's status does not lead there.
    Status,
    /// Separation of duties: the officer who issued an invoice does not approve it.
    OwnIssue,
    /// A bureau is configured: its payment confirmation marks invoices paid, not staff.
    BureauConfirms,
}

/// The facts the rule needs.
#[derive(Clone, Copy, Debug)]
pub struct Review {
    pub status: InvoiceStatus,
    /// Whether the officer asking issued this invoice.
    pub issued_by_asker: bool,
    pub bureau_configured: bool,
}

/// Whether the officer may take the action now.
pub fn may(action: ReviewAction, review: Review) -> Result<(), ReviewRefusal> {
    use InvoiceStatus::*;
    match action {
        ReviewAction::Issue if review.status != Draft => Err(ReviewRefusal::Status),
        ReviewAction::Approve | ReviewAction::Reject if review.status != Issued => {
            Err(ReviewRefusal::Status)
        }
        ReviewAction::Approve if review.issued_by_asker => Err(ReviewRefusal::OwnIssue),
        ReviewAction::MarkPaid if review.bureau_configured => Err(ReviewRefusal::BureauConfirms),
        ReviewAction::MarkPaid if !matches!(review.status, Approved | Submitted) => {
            Err(ReviewRefusal::Status)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(status: InvoiceStatus) -> Review {
        Review {
            status,
            issued_by_asker: false,
            bureau_configured: false,
        }
    }

    #[test]
    fn each_status_opens_only_its_next_steps() {
        let open = |status| {
            ReviewAction::ALL
                .into_iter()
                .filter(|a| may(*a, review(status)).is_ok())
                .collect::<Vec<_>>()
        };
        assert_eq!(open(InvoiceStatus::Draft), [ReviewAction::Issue]);
        assert_eq!(
            open(InvoiceStatus::Issued),
            [ReviewAction::Approve, ReviewAction::Reject]
        );
        assert_eq!(open(InvoiceStatus::Approved), [ReviewAction::MarkPaid]);
        assert_eq!(open(InvoiceStatus::Submitted), [ReviewAction::MarkPaid]);
        assert!(open(InvoiceStatus::Paid).is_empty());
        assert!(open(InvoiceStatus::Rejected).is_empty());
    }

    #[test]
    fn the_issuer_may_reject_but_not_approve() {
        let own = Review {
            issued_by_asker: true,
            ..review(InvoiceStatus::Issued)
        };
        assert_eq!(
            may(ReviewAction::Approve, own),
            Err(ReviewRefusal::OwnIssue)
        );
        assert_eq!(may(ReviewAction::Reject, own), Ok(()));
    }

    #[test]
    fn a_configured_bureau_marks_invoices_paid() {
        let with_bureau = Review {
            bureau_configured: true,
            ..review(InvoiceStatus::Approved)
        };
        assert_eq!(
            may(ReviewAction::MarkPaid, with_bureau),
            Err(ReviewRefusal::BureauConfirms)
        );
    }

    #[test]
    fn statuses_read_back_as_written() {
        for status in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(InvoiceStatus::parse("delivery_failed"), None);
    }
}

//! Electronic vouchers (RULES.md §7: 发券 → 培训 → 持证 → 兑现). The gateway is the cash-out step:
//! where a payer requires them, a completion must redeem a voucher issued to that learner by
//! that payer, valid when the certificate was issued, and unused.

use super::Level;
use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoucherStatus {
    /// Issued and not used: redeemable while valid.
    Issued,
    /// Held by a granted completion (released again if that completion is revoked).
    Redeemed,
    /// Withdrawn by an admin before use.
    Cancelled,
}

impl VoucherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Issued => "issued",
            VoucherStatus::Redeemed => "redeemed",
            VoucherStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<VoucherStatus> {
        [
            VoucherStatus::Issued,
            VoucherStatus::Redeemed,
            VoucherStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What a voucher says, as far as redeeming it goes.
#[derive(Clone, Debug)]
pub struct Voucher<'a> {
    pub payer: &'a str,
    /// The keyed hash of the learner's ID number it was issued to.
    pub learner: &'a [u8],
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub level: Option<Level>,
    pub course: Option<&'a str>,
    pub status: VoucherStatus,
}

/// The completion that would redeem it.
#[derive(Clone, Debug)]
pub struct Redemption<'a> {
    pub payer: &'a str,
    pub learner: &'a [u8],
    pub certified_at: DateTime<Utc>,
    pub level: Level,
    pub course: &'a str,
}

/// Why a completion may not be paid with the voucher it names (or without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoucherRefusal {
    /// The payer requires a voucher and the event names none.
    Required,
    /// Unknown, not this learner's, not this payer's, for another level or course, or
    /// cancelled: deliberately one answer, so that codes cannot be probed.
    Invalid,
    /// Already held by another completion.
    Redeemed,
    /// Not valid when the certificate was issued.
    Expired,
}

impl VoucherRefusal {
    pub fn code(self) -> &'static str {
        match self {
            VoucherRefusal::Required => "voucher_required",
            VoucherRefusal::Invalid => "voucher_invalid",
            VoucherRefusal::Redeemed => "voucher_redeemed",
            VoucherRefusal::Expired => "voucher_expired",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            VoucherRefusal::Required => "is required: this payer pays only against a voucher",
            VoucherRefusal::Invalid => "is not a voucher of this learner for this training",
            VoucherRefusal::Redeemed => "was already redeemed by another completion",
            VoucherRefusal::Expired => "was not valid when the certificate was issued",
        }
    }
}

/// Whether `redemption` may redeem `voucher` (`None`: the code is unknown). Who it belongs to
/// is checked before its state, so that another learner's voucher is only ever "invalid".
pub fn redeemable(
    voucher: Option<&Voucher>,
    redemption: &Redemption,
) -> Result<(), VoucherRefusal> {
    let voucher = voucher.ok_or(VoucherRefusal::Invalid)?;
    let belongs = voucher.payer == redemption.payer
        && voucher.learner == redemption.learner
        && voucher.level.is_none_or(|level| level == redemption.level)
        && voucher
            .course
            .is_none_or(|course| course == redemption.course);
    if !belongs || voucher.status == VoucherStatus::Cancelled {
        return Err(VoucherRefusal::Invalid);
    }
    if voucher.status == VoucherStatus::Redeemed {
        return Err(VoucherRefusal::Redeemed);
    }
    if redemption.certified_at < voucher.valid_from || redemption.certified_at > voucher.valid_until
    {
        return Err(VoucherRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 6, day, 2, 0, 0).unwrap()
    }

    fn voucher() -> Voucher<'static> {
        Voucher {
            payer: "taiyuan",
            learner: b"h1",
            valid_from: at(1),
            valid_until: at(30),
            level: Some(Level::Junior),
            course: None,
            status: VoucherStatus::Issued,
        }
    }

    fn redemption() -> Redemption<'static> {
        Redemption {
            payer: "taiyuan",
            learner: b"h1",
            certified_at: at(15),
            level: Level::Junior,
            course: "C1",
        }
    }

    #[test]
    fn a_voucher_of_this_learner_valid_at_certification_is_redeemable() {
        assert_eq!(redeemable(Some(&voucher()), &redemption()), Ok(()));
        let edge = Redemption {
            certified_at: at(30),
            ..redemption()
        };
        assert_eq!(redeemable(Some(&voucher()), &edge), Ok(()));
    }

    #[test]
    fn whose_it_is_comes_before_its_state() {
        let redeemed = Voucher {
            status: VoucherStatus::Redeemed,
            ..voucher()
        };
        let someone_else = Redemption {
            learner: b"h2",
            ..redemption()
        };
        // Another learner's redeemed voucher: "invalid", never "redeemed".
        assert_eq!(
            redeemable(Some(&redeemed), &someone_else),
            Err(VoucherRefusal::Invalid)
        );
        assert_eq!(
            redeemable(Some(&redeemed), &redemption()),
            Err(VoucherRefusal::Redeemed)
        );
        assert_eq!(
            redeemable(None, &redemption()),
            Err(VoucherRefusal::Invalid)
        );
        for mismatch in [
            Redemption {
                payer: "datong",
                ..redemption()
            },
            Redemption {
                level: Level::Senior,
                ..redemption()
            },
        ] {
            assert_eq!(
                redeemable(Some(&voucher()), &mismatch),
                Err(VoucherRefusal::Invalid)
            );
        }
        let for_another_course = Voucher {
            course: Some("C2"),
            ..voucher()
        };
        assert_eq!(
            redeemable(Some(&for_another_course), &redemption()),
            Err(VoucherRefusal::Invalid)
        );
        let cancelled = Voucher {
            status: VoucherStatus::Cancelled,
            ..voucher()
        };
        assert_eq!(
            redeemable(Some(&cancelled), &redemption()),
            Err(VoucherRefusal::Invalid)
        );
    }

    #[test]
    fn outside_its_window_it_has_expired() {
        let before = Redemption {
            certified_at: Utc.with_ymd_and_hms(2022, 5, 31, 23, 0, 0).unwrap(),
            ..redemption()
        };
        let after = Redemption {
            certified_at: Utc.with_ymd_and_hms(2022, 7, 1, 0, 0, 0).unwrap(),
            ..redemption()
        };
        for late_or_early in [before, after] {
            assert_eq!(
                redeemable(Some(&voucher()), &late_or_early),
                Err(VoucherRefusal::Expired)
            );
        }
    }
}

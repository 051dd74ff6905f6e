//! The billing rules as plain values and functions: no HTTP, no database, no clock of its own.
//! Everything here is exercised against the worked numbers of RULES.md.

pub mod id_number;
pub mod invoice;
pub mod level;
pub mod limits;
pub mod metering;
pub mod money;
pub mod notice;
pub mod offline;
pub mod progress;
pub mod reconcile;
pub mod review;
pub mod schedule;
pub mod training_year;
pub mod voucher;

pub use id_number::{IdNumber, LearnerHash};
pub use level::Level;
pub use limits::{grant, Grant, Limit, Remaining};
pub use metering::{CompletionStatus, Counters, Meter, Metered};
pub use money::Money;
pub use offline::{FollowupRatio, Reduction};
pub use schedule::RateSchedule;
pub use training_year::TrainingYear;

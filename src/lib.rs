//! Subsidy billing gateway: meters certified vocational-training completions against the
//! province's four limits, exactly, on SQLite or PostgreSQL.

pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod outbox;
pub mod service;
pub mod startup;
pub mod store;

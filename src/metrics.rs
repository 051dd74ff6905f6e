//! Prometheus counters of the business, beside the HTTP metrics of `actix-web-prom`.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub completions: IntCounterVec,
    pub granted_fen: IntCounter,
    pub revoked_fen: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let completions = IntCounterVec::new(
            Opts::new(
                "gateway_completions_total",
                "Completions recorded, by status (replays not counted)",
            ),
            &["status"],
        )
        .expect("valid metric");
        let granted_fen = IntCounter::new(
            "gateway_granted_fen_total",
            "Subsidy granted at accrual, in fen",
        )
        .expect("valid metric");
        let revoked_fen = IntCounter::new(
            "gateway_revoked_fen_total",
            "Subsidy released by revocations, in fen",
        )
        .expect("valid metric");
        for metric in [
            Box::new(completions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(granted_fen.clone()),
            Box::new(revoked_fen.clone()),
        ] {
            registry.register(metric).expect("metric registered once");
        }
        Metrics {
            registry,
            completions,
            granted_fen,
            revoked_fen,
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

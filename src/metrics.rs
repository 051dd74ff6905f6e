//! Prometheus counters of the business, beside the HTTP metrics of `actix-web-prom`.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub completions: IntCounterVec,
    pub granted_fen: IntCounter,
    pub revoked_fen: IntCounter,
    /// What an operator pages on: the ledger writer's groups and queue, the database pool and
    /// the outbox.
    pub write_group_events: Histogram,
    pub write_wait_seconds: Histogram,
    pub ingest_queue_events: IntGauge,
    pub db_pool_wait_seconds: Histogram,
    pub outbox_deliveries: IntGaugeVec,
}

fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric")
}

/// Seconds, from half a millisecond to ten seconds.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
    ]
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
        let write_group_events = histogram(
            "gateway_write_group_events",
            "Completion events per ledger transaction (group commit)",
            vec![
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 4000.0,
            ],
        );
        let write_wait_seconds = histogram(
            "gateway_write_wait_seconds",
            "From a completion request queued for the ledger writer to its group committed",
            latency_buckets(),
        );
        let ingest_queue_events = IntGauge::new(
            "gateway_ingest_queue_events",
            "Completion events waiting for the ledger writer",
        )
        .expect("valid metric");
        let db_pool_wait_seconds = histogram(
            "gateway_db_pool_wait_seconds",
            "Waits for a pooled database connection (timeouts count their full wait)",
            latency_buckets(),
        );
        let outbox_deliveries = IntGaugeVec::new(
            Opts::new(
                "gateway_outbox_deliveries",
                "Deliveries by kind (bureau, platform) and status (pending, held, failed, delivered, paid_by_hand)",
            ),
            &["kind", "status"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(completions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(granted_fen.clone()),
            Box::new(revoked_fen.clone()),
            Box::new(write_group_events.clone()),
            Box::new(write_wait_seconds.clone()),
            Box::new(ingest_queue_events.clone()),
            Box::new(db_pool_wait_seconds.clone()),
            Box::new(outbox_deliveries.clone()),
        ] {
            registry.register(metric).expect("metric registered once");
        }
        Metrics {
            registry,
            completions,
            granted_fen,
            revoked_fen,
            write_group_events,
            write_wait_seconds,
            ingest_queue_events,
            db_pool_wait_seconds,
            outbox_deliveries,
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

//! The real binary: three gateway processes on one database keep the limits exact, `gateway
//! token` agrees with `gateway serve`, `gateway check` finds the books clean, and no ID number
//! reaches the logs.

mod common;

use common::process::*;
use common::*;
use subsidy_gateway::domain::TrainingYear;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_on_one_database_keep_limits_exact() {
    let db = TestDatabase::fresh();
    let replicas: Vec<Process> = if db.is_postgres() {
        // Replicas may start together: migrations take turns.
        let starting: Vec<_> = (0..3)
            .map(|_| {
                let access = db.access();
                std::thread::spawn(move || spawn_gateway(&access))
            })
            .collect();
        starting.into_iter().map(|t| t.join().unwrap()).collect()
    } else {
        (0..3).map(|_| spawn_gateway(&db.access())).collect()
    };
    let addresses: Vec<String> = replicas.iter().map(|r| r.address.clone()).collect();
    let admin = cli_token(&db.access(), &["--role", "admin", "--sub", "ops"]);
    let access = db.access();
    let mint = move |code: &str| cli_token(&access, &["--role", "platform", "--platform", code]);
    let now = chrono::Utc::now();
    let certified_at = (now - chrono::Duration::hours(1)).to_rfc3339();
    let year = TrainingYear::of(now - chrono::Duration::hours(1)).value();
    let client = reqwest::Client::new();
    // 200 requests per scenario, spread over the three; the same event 50 times at once.
    limits_hold_under_concurrency(
        &client,
        &addresses,
        &admin,
        &mint,
        &certified_at,
        year,
        200,
        50,
    )
    .await;
    let report = cli_check(&db.access());
    assert_eq!(report["checked"]["completions"], 200 * 3 + 30 + 1);

    // No full ID number in any process's logs, at debug level.
    let logs: String = replicas
        .iter()
        .map(|r| r.log.lock().unwrap().clone())
        .collect();
    assert!(logs.contains("gateway listening"));
    for learner in [1, 2000, 3000, 4000, 9000] {
        assert!(
            !logs.contains(&id_number(learner)),
            "ID number of learner {learner} in the logs"
        );
    }
}

//! The real binary: three gateway processes on one database keep the limits exact, `gateway
//! token` agrees with `gateway serve`, `gateway check` finds the books clean, and no ID number
//! reaches the logs.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use subsidy_gateway::domain::TrainingYear;

const BINARY: &str = env!("CARGO_BIN_EXE_gateway");

struct Process {
    child: Child,
    address: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `gateway serve` on port 0 and reads its port from the start-up log line.
fn spawn_gateway(database_url: &str) -> Process {
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "debug")
        .env("GATEWAY_RATE_PER_SECOND", "100000")
        .env("GATEWAY_RATE_BURST", "100000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (port_tx, port_rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("gateway listening") {
                let port: String = line
                    .split("port=")
                    .nth(1)
                    .unwrap_or("")
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let _ = port_tx.send(port);
            }
            sink.lock().unwrap().push_str(&line);
            sink.lock().unwrap().push('\n');
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("gateway reports its port");
    Process {
        child,
        address: format!("http://127.0.0.1:{port}"),
        log,
    }
}

fn cli_token(database_url: &str, args: &[&str]) -> String {
    let output = Command::new(BINARY)
        .arg("token")
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("gateway token runs");
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// `gateway check` against the database: exits 0 and reports clean books.
fn cli_check(database_url: &str) -> serde_json::Value {
    let output = Command::new(BINARY)
        .arg("check")
        .env("DATABASE_URL", database_url)
        .output()
        .expect("gateway check runs");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("gateway check prints JSON");
    assert!(output.status.success(), "{report:#}");
    assert_eq!(report["status"], "clean");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_on_one_database_keep_limits_exact() {
    let db = TestDatabase::fresh();
    let replicas: Vec<Process> = if db.is_postgres() {
        // Replicas may start together: migrations take turns.
        let starting: Vec<_> = (0..3)
            .map(|_| {
                let url = db.url.clone();
                std::thread::spawn(move || spawn_gateway(&url))
            })
            .collect();
        starting.into_iter().map(|t| t.join().unwrap()).collect()
    } else {
        (0..3).map(|_| spawn_gateway(&db.url)).collect()
    };
    let addresses: Vec<String> = replicas.iter().map(|r| r.address.clone()).collect();
    let admin = cli_token(&db.url, &["--role", "admin", "--sub", "ops"]);
    let url = db.url.clone();
    let mint = move |code: &str| cli_token(&url, &["--role", "platform", "--platform", code]);
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
    let report = cli_check(&db.url);
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

#[test]
fn bad_settings_fail_at_start_naming_the_setting() {
    let output = Command::new(BINARY)
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://localhost/gw")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["migrate"])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/g.db", dir.path().display()),
        )
        .env("GATEWAY_RATE_PER_SECOND", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("GATEWAY_RATE_PER_SECOND"));
}

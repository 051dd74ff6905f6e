//! The real `gateway` binary as a child process: serve, token, check.

use super::DatabaseAccess;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_gateway");

pub struct Process {
    pub child: Child,
    pub address: String,
    pub log: Arc<Mutex<String>>,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("reaped");
    }

    /// `kill -TERM`: asks for a graceful stop.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself; None if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `gateway serve` on port 0 and reads its port from the start-up log line.
pub fn spawn_gateway(db: &DatabaseAccess) -> Process {
    spawn_gateway_with(db, &[])
}

/// The binary, pointed at the test database and its key file.
fn gateway(db: &DatabaseAccess) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env("DATABASE_URL", &db.url)
        .env("GATEWAY_KEYS_FILE", &db.keys_file);
    command
}

pub fn spawn_gateway_with(db: &DatabaseAccess, env: &[(&str, &str)]) -> Process {
    let mut child = gateway(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .env("GATEWAY_RATE_PER_SECOND", "100000")
        .env("GATEWAY_RATE_BURST", "100000")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
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
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
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

pub fn cli_token(db: &DatabaseAccess, args: &[&str]) -> String {
    cli_print(db, &[&["token"], args].concat())
}

/// What a `gateway` command prints, after it succeeded.
pub fn cli_print(db: &DatabaseAccess, args: &[&str]) -> String {
    let output = gateway(db).args(args).output().expect("gateway runs");
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// `gateway check` against the database: exits 0 and reports clean books.
pub fn cli_check(db: &DatabaseAccess) -> serde_json::Value {
    let output = gateway(db)
        .arg("check")
        .output()
        .expect("gateway check runs");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("gateway check prints JSON");
    assert!(output.status.success(), "{report:#}");
    assert_eq!(report["status"], "clean");
    report
}

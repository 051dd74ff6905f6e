//! Load generator: starts `gateway serve` (the binary beside this one) on a fresh database and
//! measures it beside the raw engine under it, in the same run:
//!
//! 1. the HTTP floor: the same requests refused at authentication (the stack doing no work);
//! 2. the raw engine: the minimal money transaction (insert a completion, three capped counter
//!    upserts) straight on the same engine, one event per transaction from as many clients as
//!    the single-event load, and 1,000 per transaction from as many as the batch load;
//! 3. single-event webhooks from concurrent clients (closed loop), then paced at a fixed offered
//!    rate (open loop: latency counted from when each request was due, not when it was sent);
//! 4. 1,000-event batches.
//!
//! `--scale N` instead loads N completions in batches, then measures the invoice run over them
//! with single events of another platform sent meanwhile, `gateway check` (time and peak RSS),
//! and the bytes stored per completion.
//!
//! `cargo build --release && target/release/loadgen` (SQLite), or with
//! `--postgres postgres://postgres@127.0.0.1:5432/postgres` for a fresh PostgreSQL database.

use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use subsidy_gateway::domain::IdNumber;

#[derive(Parser)]
#[command(about = "Load generator for the subsidy gateway")]
struct Args {
    /// An existing PostgreSQL server to create fresh databases on; SQLite in a temp dir if absent.
    #[arg(long)]
    postgres: Option<String>,
    /// Concurrent clients posting single events (and running single-event raw transactions).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Single-event webhooks to post in all (without wrk; with it, as many as it posts in
    /// `--seconds`).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Length of each wrk run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// 1,000-event batches to post.
    #[arg(long, default_value_t = 20)]
    batches: usize,
    /// Concurrent clients posting batches.
    #[arg(long, default_value_t = 4)]
    batch_clients: usize,
    /// Offered rate of the paced run, events/s; 80 % of the closed-loop peak if absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Length of the paced run.
    #[arg(long, default_value_t = 5)]
    paced_seconds: u64,
    /// Instead of the run above: the same single events and batches against one gateway, then
    /// against this many gateway processes on the same database.
    #[arg(long)]
    replicas: Option<usize>,
    /// Instead of the run above: load this many completions, then time the invoice run (with
    /// single events meanwhile) and `gateway check`.
    #[arg(long)]
    scale: Option<usize>,
    /// Instead of the run above: the same batches and single events while the payer requires no
    /// voucher, then while it requires one (each event redeeming its own), in one run.
    #[arg(long)]
    vouchers: bool,
}

struct Gateway {
    child: Child,
    address: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sibling(name: &str) -> std::path::PathBuf {
    std::env::current_exe()
        .expect("own path")
        .with_file_name(name)
}

/// The gateway's log level: `LOADGEN_GATEWAY_LOG` (also echoes its log), else warnings.
fn gateway_log() -> Option<String> {
    std::env::var("LOADGEN_GATEWAY_LOG").ok()
}

/// The startup line names the port the gateway bound, so it is logged whatever filter is asked
/// for: a filter without it would leave `start` waiting for a port that is never printed.
fn gateway_log_filter() -> String {
    let asked = gateway_log().unwrap_or_else(|| "warn".into());
    format!("{asked},subsidy_gateway::startup=info")
}

fn start(database_url: &str) -> anyhow::Result<Gateway> {
    let mut child = Command::new(sibling("gateway"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("GATEWAY_RATE_PER_SECOND", "1000000")
        .env("GATEWAY_RATE_BURST", "1000000")
        .env("RUST_LOG", gateway_log_filter())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("gateway exited"))??;
        if let Some(rest) = line.split("port=").nth(1) {
            break rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>();
        }
    };
    let echo = gateway_log().is_some();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if echo {
                eprintln!("{line}");
            }
        }
    });
    Ok(Gateway {
        child,
        address: format!("http://127.0.0.1:{port}"),
    })
}

fn token(database_url: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(sibling("gateway"))
        .arg("token")
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()?;
    anyhow::ensure!(output.status.success(), "gateway token failed");
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// Peak resident memory of a running process, from the kernel's high-water mark.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Event `n`: a distinct learner on one of 500 courses, so every event is metered for real.
fn event(n: usize, course_prefix: &str, certified_at: &str) -> Value {
    let first17 = format!("140105{:04}0101{:03}", 1950 + (n / 1000) % 50, n % 1000);
    let birth_shift = n / 50_000; // beyond 50,000 learners vary the region instead
    let first17 = format!("{}{}", 110_101 + birth_shift, &first17[6..]);
    json!({
        "event_id": format!("ev-{n}"),
        "course_code": format!("{course_prefix}{}", n % 500),
        "learner": {"id_number": IdNumber::complete(&first17), "name": format!("学员{n}")},
        "class_hours": 10,
        "certificate_no": format!("CERT-{course_prefix}{n}"),
        "certified_at": certified_at,
    })
}

fn batch(first: usize, size: usize, course_prefix: &str, certified_at: &str) -> Value {
    json!({"events": (first..first + size).map(|n| event(n, course_prefix, certified_at)).collect::<Vec<_>>()})
}

struct Figures {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// p50, p99 and max as another tool measured them (wrk), instead of `latencies`.
    quantiles: Option<[Duration; 3]>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&mut self, label: &str, unit: &str) -> f64 {
        self.latencies.sort();
        let rate = self.rate();
        let quantiles = self.quantiles.or_else(|| {
            let max = *self.latencies.last()?;
            Some([
                percentile(&self.latencies, 50),
                percentile(&self.latencies, 99),
                max,
            ])
        });
        let latency = quantiles.map_or(String::new(), |[p50, p99, max]| {
            format!(
                "; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                ms(p50),
                ms(p99),
                ms(max)
            )
        });
        println!(
            "{label}: {} {unit} in {:.2} s = {rate:.0} {unit}/s{latency}",
            self.events,
            self.elapsed.as_secs_f64(),
        );
        rate
    }
}

/// Posts `bodies` from `clients` concurrent clients (closed loop), client `k` to the `k`-th of
/// the comma-separated `address`es (round robin); every answer must have `expect` status.
async fn drive(
    address: &str,
    token: &str,
    clients: usize,
    bodies: Vec<Value>,
    events_each: usize,
    expect: u16,
) -> anyhow::Result<Figures> {
    let bodies = serialised(bodies);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let addresses: Vec<&str> = address.split(',').collect();
    let workers: Vec<_> = (0..clients)
        .map(|k| {
            let (client, bodies, next) = (client.clone(), bodies.clone(), next.clone());
            let url = format!("{}/v1/completions", addresses[k % addresses.len()]);
            let token = token.to_owned();
            tokio::spawn(async move {
                let mut latencies = vec![];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let sent = Instant::now();
                    post(&client, &url, &token, body, expect).await?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = vec![];
    for worker in workers {
        latencies.extend(worker.await??);
    }
    Ok(Figures {
        events: bodies.len() * events_each,
        elapsed: started.elapsed(),
        latencies,
        quantiles: None,
    })
}

/// Bodies as bytes, serialised before the clock starts: the client's own work is not measured.
fn serialised(bodies: Vec<Value>) -> Vec<bytes::Bytes> {
    bodies
        .iter()
        .map(|b| bytes::Bytes::from(serde_json::to_vec(b).expect("JSON serialises")))
        .collect()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &bytes::Bytes,
    expect: u16,
) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.as_u16() == expect, "status {status}: {text}");
    Ok(())
}

/// Open loop: request `i` is due at `start + i / rate` and sent then, whatever the answers
/// before it; its latency counts from when it was due.
async fn paced(
    address: &str,
    token: &str,
    rate: f64,
    bodies: Vec<Value>,
) -> anyhow::Result<Figures> {
    let bodies = serialised(bodies);
    let client = reqwest::Client::builder().build()?;
    let url = format!("{address}/v1/completions");
    let started = tokio::time::Instant::now();
    let mut sent = Vec::with_capacity(bodies.len());
    let events = bodies.len();
    for (i, body) in bodies.into_iter().enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let (client, url, token) = (client.clone(), url.clone(), token.to_owned());
        sent.push(tokio::spawn(async move {
            post(&client, &url, &token, &body, 200).await?;
            Ok::<_, anyhow::Error>(due.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(sent.len());
    for request in sent {
        latencies.push(request.await??);
    }
    Ok(Figures {
        events,
        elapsed: started.elapsed(),
        latencies,
        quantiles: None,
    })
}

/// Drives single events with wrk (Debian's `wrk`), a far lighter client than this one, so the
/// figure is the gateway's and not the client's: each request a distinct event from a file,
/// `clients` connections for `seconds`. `None` when wrk is not installed.
fn wrk(
    address: &str,
    token: &str,
    clients: usize,
    seconds: u64,
    bodies: &std::path::Path,
    expect_success: bool,
) -> anyhow::Result<Option<Figures>> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Ok(None);
    }
    let script = bodies.with_extension("lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{clients}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(format!("{address}/v1/completions"))
        .arg("--")
        .arg(bodies)
        .env("LOADGEN_TOKEN", token)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(output.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
    };
    let failed: usize = field("Non-2xx or 3xx responses:").map_or(Ok(0), |v| v.parse())?;
    anyhow::ensure!(
        !expect_success || failed == 0,
        "{failed} requests failed under wrk:\n{text}"
    );
    let requests: usize = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no request count in wrk's output:\n{text}"))?
        .parse()?;
    // wrk prints its latency distribution as "50%  3.21ms", and the maximum on "Latency".
    let quantile = |prefix: &str| -> anyhow::Result<Duration> {
        let value = field(prefix).ok_or_else(|| anyhow::anyhow!("no {prefix} in wrk's output"))?;
        parse_wrk_duration(&value)
    };
    let max = text
        .lines()
        .find(|l| l.trim_start().starts_with("Latency") && l.split_whitespace().count() >= 4)
        .and_then(|l| l.split_whitespace().nth(3))
        .ok_or_else(|| anyhow::anyhow!("no maximum latency in wrk's output"))?;
    Ok(Some(Figures {
        events: requests,
        elapsed: Duration::from_secs(seconds),
        latencies: vec![],
        quantiles: Some([quantile("50%")?, quantile("99%")?, parse_wrk_duration(max)?]),
    }))
}

fn parse_wrk_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 1e-6)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('m') {
        (v, 60.0)
    } else {
        anyhow::bail!("unknown duration {text}")
    };
    Ok(Duration::from_secs_f64(number.parse::<f64>()? * scale))
}

/// Each wrk thread takes every other line of the bodies file and posts them in turn.
const WRK_SCRIPT: &str = r#"
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  bodies = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % 2 == id then bodies[#bodies + 1] = line end
    i = i + 1
  end
  n = 0
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("LOADGEN_TOKEN")}
end
function request()
  n = n + 1
  return wrk.format("POST", nil, headers, bodies[(n - 1) % #bodies + 1])
end
"#;

/// Writes events `first..first + count`, one JSON body a line, for wrk.
fn bodies_file(
    dir: &std::path::Path,
    first: usize,
    count: usize,
    certified_at: &str,
) -> anyhow::Result<std::path::PathBuf> {
    use std::io::Write;
    let path = dir.join(format!("bodies-{first}.jsonl"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for n in first..first + count {
        serde_json::to_writer(&mut file, &event(n, "load-", certified_at))?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    Ok(path)
}

/// The engine under the gateway, without the gateway: the minimal money transaction.
enum RawEngine {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

const RAW_SCHEMA: &str = "
    CREATE TABLE raw_completions (id TEXT PRIMARY KEY, platform TEXT NOT NULL, event_id TEXT NOT NULL,
        learner TEXT NOT NULL, course TEXT NOT NULL, granted BIGINT NOT NULL, UNIQUE (platform, event_id));
    CREATE TABLE raw_learners (k TEXT PRIMARY KEY, fen BIGINT NOT NULL);
    CREATE TABLE raw_courses (k TEXT PRIMARY KEY, fen BIGINT NOT NULL);
    CREATE TABLE raw_platforms (k TEXT PRIMARY KEY, fen BIGINT NOT NULL);";

impl RawEngine {
    fn connect(&self) -> anyhow::Result<RawConn> {
        Ok(match self {
            RawEngine::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // The timeout first: clients connecting together wait on the journal-mode switch.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
                )?;
                RawConn::Sqlite(conn)
            }
            RawEngine::Postgres(url) => RawConn::Postgres(PgConnection::establish(url)?),
        })
    }

    /// `transactions` transactions of `per_transaction` events each (numbered from `first`),
    /// from `clients` threads.
    fn run(
        &self,
        clients: usize,
        transactions: usize,
        per_transaction: usize,
        first: usize,
    ) -> anyhow::Result<Figures> {
        self.connect()?.batch(
            RAW_SCHEMA
                .replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
                .as_str(),
        )?;
        let next = AtomicUsize::new(0);
        let started = Instant::now();
        let latencies = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..clients)
                .map(|_| {
                    scope.spawn(|| {
                        let mut conn = self.connect()?;
                        let mut latencies = vec![];
                        loop {
                            let t = next.fetch_add(1, Ordering::Relaxed);
                            if t >= transactions {
                                return Ok::<_, anyhow::Error>(latencies);
                            }
                            let began = Instant::now();
                            conn.money_transaction(first + t * per_transaction, per_transaction)?;
                            latencies.push(began.elapsed());
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("raw client"))
                .collect::<anyhow::Result<Vec<_>>>()
        })?;
        Ok(Figures {
            events: transactions * per_transaction,
            elapsed: started.elapsed(),
            latencies: latencies.into_iter().flatten().collect(),
            quantiles: None,
        })
    }
}

enum RawConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl RawConn {
    fn batch(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            RawConn::Sqlite(c) => c.batch_execute(sql)?,
            RawConn::Postgres(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Events `first..first + count` in one transaction: each inserts its completion and adds
    /// its grant to three counters, capped (learner 300.00, course 1,000.00, platform 3,000,000.00).
    fn money_transaction(&mut self, first: usize, count: usize) -> anyhow::Result<()> {
        macro_rules! apply {
            ($conn:expr, $begin:expr, $min:expr) => {{
                $conn.batch_execute($begin)?;
                for n in first..first + count {
                    diesel::sql_query(
                        "INSERT INTO raw_completions (id, platform, event_id, learner, course, granted) \
                         VALUES ($1, 'load', $2, $3, $4, 3000)",
                    )
                    .bind::<Text, _>(format!("id-{n}"))
                    .bind::<Text, _>(format!("ev-{n}"))
                    .bind::<Text, _>(format!("learner-{n}"))
                    .bind::<Text, _>(format!("course-{}", n % 500))
                    .execute($conn)?;
                    for (table, key, cap) in [
                        ("raw_learners", format!("learner-{n}"), 30_000i64),
                        ("raw_courses", format!("course-{}", n % 500), 100_000),
                        ("raw_platforms", "load".to_owned(), 300_000_000),
                    ] {
                        diesel::sql_query(format!(
                            "INSERT INTO {table} (k, fen) VALUES ($1, 3000) ON CONFLICT (k) \
                             DO UPDATE SET fen = {}({table}.fen + 3000, $2)",
                            $min
                        ))
                        .bind::<Text, _>(key)
                        .bind::<BigInt, _>(cap)
                        .execute($conn)?;
                    }
                }
                $conn.batch_execute("COMMIT")?;
            }};
        }
        match self {
            RawConn::Sqlite(c) => apply!(c, "BEGIN IMMEDIATE", "MIN"),
            RawConn::Postgres(c) => apply!(c, "BEGIN", "LEAST"),
        }
        Ok(())
    }
}

/// A fresh database for one purpose: a file in the temp dir, or a new PostgreSQL database
/// dropped at the end.
struct Database {
    url: String,
    admin: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl Database {
    fn fresh(postgres: Option<&str>, purpose: &str) -> anyhow::Result<Database> {
        match postgres {
            Some(admin) => {
                let name = format!("gw_{purpose}_{}", std::process::id());
                let mut conn = PgConnection::establish(admin)?;
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
                let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
                Ok(Database {
                    url: format!("{base}/{name}"),
                    admin: Some((admin.to_owned(), name)),
                    dir: None,
                })
            }
            None => {
                let dir =
                    std::env::temp_dir().join(format!("gateway-{purpose}-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                Ok(Database {
                    url: format!("sqlite://{}/{purpose}.db", dir.display()),
                    admin: None,
                    dir: Some(dir),
                })
            }
        }
    }

    fn raw_engine(&self) -> RawEngine {
        match &self.dir {
            Some(dir) => RawEngine::Sqlite(dir.join("raw.db")),
            None => RawEngine::Postgres(self.url.clone()),
        }
    }

    /// Bytes the database holds now, in all and per table or index, largest first (SQLite:
    /// the file after a checkpoint, pages per object from `dbstat`).
    fn sizes(&self) -> anyhow::Result<(u64, Vec<(String, u64)>)> {
        #[derive(diesel::QueryableByName)]
        struct Size {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = BigInt)]
            bytes: i64,
        }
        let (total, objects): (u64, Vec<Size>) = match &self.admin {
            None => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = SqliteConnection::establish(path)?;
                conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
                let objects = diesel::sql_query(
                    "SELECT name, CAST(SUM(pgsize) AS BIGINT) AS bytes FROM dbstat GROUP BY name",
                )
                .load(&mut conn)?;
                (std::fs::metadata(path)?.len(), objects)
            }
            Some((_, name)) => {
                let mut conn = PgConnection::establish(&self.url)?;
                let total: Size = diesel::sql_query(format!(
                    "SELECT '{name}' AS name, pg_database_size('{name}') AS bytes"
                ))
                .get_result(&mut conn)?;
                let objects = diesel::sql_query(
                    "SELECT c.relname::text AS name, pg_relation_size(c.oid) AS bytes \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')",
                )
                .load(&mut conn)?;
                (u64::try_from(total.bytes)?, objects)
            }
        };
        let mut objects: Vec<(String, u64)> = objects
            .into_iter()
            .map(|s| (s.name, u64::try_from(s.bytes).unwrap_or(0)))
            .collect();
        objects.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
        Ok((total, objects))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.admin {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A platform with 500 junior courses, and its token.
async fn platform(
    gateway: &Gateway,
    database_url: &str,
    admin: &str,
    code: &str,
) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/v1/platforms", gateway.address))
        .bearer_auth(admin)
        .json(&json!({"code": code, "name": code}))
        .send()
        .await?;
    anyhow::ensure!(
        created.status().is_success(),
        "platform: {}",
        created.text().await?
    );
    let token = token(database_url, &["--role", "platform", "--platform", code])?;
    for c in 0..500 {
        let course = client
            .put(format!("{}/v1/courses/{code}-{c}", gateway.address))
            .bearer_auth(&token)
            .json(&json!({"title": "course", "level": "junior", "class_hours": 10}))
            .send()
            .await?;
        anyhow::ensure!(course.status().is_success(), "course");
    }
    Ok(token)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let backend = if args.postgres.is_some() {
        // A PostgreSQL deployment needs its keys configured: one file for this run, inherited
        // by every gateway process and CLI call it starts (set before any of them exists).
        let keys =
            std::env::temp_dir().join(format!("gateway-loadgen-{}.keys.json", std::process::id()));
        let _ = std::fs::remove_file(&keys);
        subsidy_gateway::keys::Keys::generate().create(&keys)?;
        std::env::set_var("GATEWAY_KEYS_FILE", &keys);
        "postgres"
    } else {
        "sqlite"
    };
    let certified_at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    if let Some(completions) = args.scale {
        return scale(&args, backend, completions, &certified_at).await;
    }
    if let Some(replicas) = args.replicas {
        return replicated(&args, backend, replicas, &certified_at).await;
    }
    if args.vouchers {
        return vouchered(&args, backend, &certified_at).await;
    }
    let (database, gateway, _admin, load) = set_up(&args, "load").await?;
    println!(
        "backend: {backend}; {} single events from {} clients; {} batches of 1,000 from {} clients",
        args.events, args.clients, args.batches, args.batch_clients
    );

    let scratch = std::env::temp_dir().join(format!("gateway-bodies-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    // wrk when installed (the lighter client), else this process's own clients.
    let floor = match wrk(
        &gateway.address,
        "not-a-token",
        args.clients,
        args.seconds,
        &bodies_file(&scratch, 0, 1000, &certified_at)?,
        false,
    )? {
        Some(mut figures) => {
            figures.print("HTTP floor (refused at authentication, wrk)", "requests")
        }
        None => {
            let refused = (0..args.events)
                .map(|n| event(n, "load-", &certified_at))
                .collect();
            drive(
                &gateway.address,
                "not-a-token",
                args.clients,
                refused,
                1,
                401,
            )
            .await?
            .print("HTTP floor (refused at authentication)", "requests")
        }
    };

    // The raw engine from as many clients as the gateway gets, and from one: SQLite's busy
    // handler sleeps while another connection writes, so one writer is its best case.
    let raw = database.raw_engine();
    let mut first = 0;
    let mut best = |clients: usize, per_transaction: usize, count: usize| -> anyhow::Result<f64> {
        let mut rates = vec![];
        for clients in [clients, 1] {
            let transactions = count / per_transaction;
            let label = format!(
                "raw engine, {per_transaction} event(s) per transaction, {clients} client(s)"
            );
            rates.push(
                raw.run(clients, transactions, per_transaction, first)?
                    .print(&label, "events"),
            );
            first += count;
        }
        Ok(rates.into_iter().fold(0.0, f64::max))
    };
    let raw_single = best(args.clients, 1, args.events)?;
    let raw_batched = best(args.batch_clients, 1000, args.batches * 1000)?;

    // Distinct events for as long as wrk runs: more than it can post.
    let wrk_events = 40_000 * usize::try_from(args.seconds)?;
    let single = match wrk(
        &gateway.address,
        &load,
        args.clients,
        args.seconds,
        &bodies_file(&scratch, 1_000_000, wrk_events, &certified_at)?,
        true,
    )? {
        Some(mut figures) => figures.print(
            "gateway, single-event webhooks (closed loop, wrk)",
            "events",
        ),
        None => {
            let singles = (1_000_000..1_000_000 + args.events)
                .map(|n| event(n, "load-", &certified_at))
                .collect();
            drive(&gateway.address, &load, args.clients, singles, 1, 200)
                .await?
                .print("gateway, single-event webhooks (closed loop)", "events")
        }
    };
    let mut next = 1_000_000 + wrk_events.max(args.events);

    let rate = args.rate.unwrap_or(single * 0.8);
    let count = (rate * args.paced_seconds as f64) as usize;
    let bodies = (next..next + count)
        .map(|n| event(n, "load-", &certified_at))
        .collect();
    next += count;
    paced(&gateway.address, &load, rate, bodies).await?.print(
        &format!("gateway, single events paced at {rate:.0}/s (open loop)"),
        "events",
    );

    let batches = (0..args.batches)
        .map(|b| batch(next + b * 1000, 1000, "load-", &certified_at))
        .collect();
    let batched = drive(
        &gateway.address,
        &load,
        args.batch_clients,
        batches,
        1000,
        200,
    )
    .await?
    .print("gateway, 1,000-event batches", "events");
    println!(
        "ratios: single events {:.0} % of the raw engine's best (one per transaction), {:.0} % of the HTTP floor; \
         batches {:.0} % of the raw engine's best (1,000 per transaction)",
        100.0 * single / raw_single,
        100.0 * single / floor,
        100.0 * batched / raw_batched,
    );
    if let Some(mib) = peak_rss_mib(gateway.child.id()) {
        println!("gateway peak RSS: {mib:.1} MiB");
    }
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}

/// Event `n` redeeming voucher `V-n`, issued to its learner.
fn with_voucher(mut event: Value, n: usize) -> Value {
    event["voucher_code"] = json!(format!("V-{n}"));
    event
}

/// Issues `V-n` for every `n` of `range` to event `n`'s learner, a thousand per request.
async fn issue_vouchers(
    gateway: &Gateway,
    admin: &str,
    range: std::ops::Range<usize>,
    certified_at: &str,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let numbers: Vec<usize> = range.collect();
    for chunk in numbers.chunks(1000) {
        let vouchers: Vec<Value> = chunk
            .iter()
            .map(|&n| {
                json!({"code": format!("V-{n}"), "payer": "province",
                    "id_number": event(n, "load-", certified_at)["learner"]["id_number"],
                    "valid_from": "2000-01-01T00:00:00+08:00",
                    "valid_until": "2100-01-01T00:00:00+08:00"})
            })
            .collect();
        let answer = client
            .post(format!("{}/v1/vouchers", gateway.address))
            .bearer_auth(admin)
            .json(&json!({ "vouchers": vouchers }))
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "vouchers: {}",
            answer.text().await?
        );
    }
    Ok(())
}

/// The group path with and without vouchers, in one run on one gateway: batches, then single
/// events, first while the payer requires none, then while it requires one.
async fn vouchered(args: &Args, backend: &str, certified_at: &str) -> anyhow::Result<()> {
    let (_database, gateway, admin, load) = set_up(args, "vouchers").await?;
    println!(
        "backend: {backend}; {} batches of 1,000 from {} clients and {} single events from {} clients, \
         without then with vouchers",
        args.batches, args.batch_clients, args.events, args.clients
    );
    let batched = args.batches * 1000;
    let run = |first: usize, vouchers: bool| {
        let voucher = move |event: Value, n: usize| {
            if vouchers {
                with_voucher(event, n)
            } else {
                event
            }
        };
        let batches: Vec<Value> = (0..args.batches)
            .map(|b| {
                let events: Vec<Value> = (first + b * 1000..first + (b + 1) * 1000)
                    .map(|n| voucher(event(n, "load-", certified_at), n))
                    .collect();
                json!({ "events": events })
            })
            .collect();
        let singles: Vec<Value> = (first + batched..first + batched + args.events)
            .map(|n| voucher(event(n, "load-", certified_at), n))
            .collect();
        (batches, singles)
    };
    let (plain_batches, plain_singles) = run(0, false);
    let first = batched + args.events;
    let (voucher_batches, voucher_singles) = run(first, true);
    issue_vouchers(&gateway, &admin, first..first * 2, certified_at).await?;

    let mut rates = vec![];
    for (label, batches, singles) in [
        ("without vouchers", plain_batches, plain_singles),
        ("with vouchers", voucher_batches, voucher_singles),
    ] {
        if label == "with vouchers" {
            let required = reqwest::Client::new()
                .patch(format!("{}/v1/payers/province", gateway.address))
                .bearer_auth(&admin)
                .json(&json!({"voucher_required": true}))
                .send()
                .await?;
            anyhow::ensure!(required.status().is_success(), "voucher requirement");
        }
        let batch_rate = drive(
            &gateway.address,
            &load,
            args.batch_clients,
            batches,
            1000,
            200,
        )
        .await?
        .print(&format!("gateway, 1,000-event batches, {label}"), "events");
        let single_rate = drive(&gateway.address, &load, args.clients, singles, 1, 200)
            .await?
            .print(
                &format!("gateway, single events (closed loop), {label}"),
                "events",
            );
        rates.push((batch_rate, single_rate));
    }
    println!(
        "with vouchers: batches at {:.0} %, single events at {:.0} % of the rate without",
        100.0 * rates[1].0 / rates[0].0,
        100.0 * rates[1].1 / rates[0].1
    );
    Ok(())
}

/// A fresh database, a gateway on it, an admin token, and platform `load` (500 courses) with
/// its token.
async fn set_up(args: &Args, purpose: &str) -> anyhow::Result<(Database, Gateway, String, String)> {
    let database = Database::fresh(args.postgres.as_deref(), purpose)?;
    let gateway = start(&database.url)?;
    let admin = token(&database.url, &["--role", "admin", "--sub", "loadgen"])?;
    let load = platform(&gateway, &database.url, &admin, "load").await?;
    Ok((database, gateway, admin, load))
}

/// Single events and batches against one gateway process, then against `replicas` processes
/// on the same database, clients spread over them.
async fn replicated(
    args: &Args,
    backend: &str,
    replicas: usize,
    certified_at: &str,
) -> anyhow::Result<()> {
    let (database, first, _admin, load) = set_up(args, "replicas").await?;
    let mut gateways = vec![first];
    println!(
        "backend: {backend}; {} single events from {} clients, {} batches of 1,000 from {} clients",
        args.events, args.clients, args.batches, args.batch_clients
    );
    let mut next = 0;
    for processes in [1, replicas] {
        while gateways.len() < processes {
            gateways.push(start(&database.url)?);
        }
        let addresses = gateways[..processes]
            .iter()
            .map(|g| g.address.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let singles = (next..next + args.events)
            .map(|n| event(n, "load-", certified_at))
            .collect();
        next += args.events;
        drive(&addresses, &load, args.clients, singles, 1, 200)
            .await?
            .print(&format!("{processes} process(es), single events"), "events");
        let batches = (0..args.batches)
            .map(|b| batch(next + b * 1000, 1000, "load-", certified_at))
            .collect();
        next += args.batches * 1000;
        drive(
            &addresses,
            &load,
            args.batch_clients.max(processes),
            batches,
            1000,
            200,
        )
        .await?
        .print(
            &format!("{processes} process(es), 1,000-event batches"),
            "events",
        );
    }
    Ok(())
}

/// Loads `completions` through the API, then the invoice run with single events of another
/// platform meanwhile, then `gateway check`.
async fn scale(
    args: &Args,
    backend: &str,
    completions: usize,
    certified_at: &str,
) -> anyhow::Result<()> {
    let (database, gateway, admin, load) = set_up(args, "scale").await?;
    let finance = token(&database.url, &["--role", "finance", "--sub", "loadgen"])?;
    let other = platform(&gateway, &database.url, &admin, "other").await?;
    println!("backend: {backend}; loading {completions} completions in 1,000-event batches from {} clients", args.batch_clients);
    let batches = (0..completions.div_ceil(1000))
        .map(|b| {
            batch(
                b * 1000,
                1000.min(completions - b * 1000),
                "load-",
                certified_at,
            )
        })
        .collect();
    drive(
        &gateway.address,
        &load,
        args.batch_clients,
        batches,
        1000,
        200,
    )
    .await?
    .print("load", "events");
    let loaded_rss = peak_rss_mib(gateway.child.id());

    // Single events of another platform every 10 ms while the invoice run works.
    let probing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let probe = {
        let (address, other, probing) = (gateway.address.clone(), other.clone(), probing.clone());
        let certified_at = certified_at.to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let url = format!("{address}/v1/completions");
            let mut latencies = vec![];
            let mut n = 10_000_000;
            while probing.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let body = serialised(vec![event(n, "other-", &certified_at)]).remove(0);
                post(&client, &url, &other, &body, 200).await?;
                latencies.push(sent.elapsed());
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let period = &certified_at[..7];
    let began = Instant::now();
    let run = reqwest::Client::new()
        .post(format!("{}/v1/invoice-runs", gateway.address))
        .bearer_auth(&finance)
        .json(&json!({"period": period, "payer": "province"}))
        .send()
        .await?;
    let run_time = began.elapsed();
    let status = run.status();
    let body = run.text().await?;
    anyhow::ensure!(status.is_success(), "invoice run: {status} {body}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    probing.store(false, Ordering::Relaxed);
    let mut latencies = probe.await??;
    latencies.sort();
    println!(
        "invoice run over {completions} completions: {:.2} s; {} single events of another platform meanwhile: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        run_time.as_secs_f64(),
        latencies.len(),
        ms(percentile(&latencies, 50)),
        ms(percentile(&latencies, 99)),
        ms(*latencies.last().expect("probed")),
    );
    if let Some(mib) = peak_rss_mib(gateway.child.id()) {
        println!(
            "gateway peak RSS: {:.1} MiB after loading, {mib:.1} MiB after the invoice run",
            loaded_rss.unwrap_or_default()
        );
    }

    // The platform's next invoice: the first issued, 1,000 completions whose event ids sort after
    // every earlier one, the period run again. Its list is a query over its window, which holds
    // only the new ones: reading it must not cost a scan of the million before.
    let drafts: Value = serde_json::from_str(&body)?;
    let first = drafts
        .as_array()
        .and_then(|d| d.iter().find(|i| i["platform"] == "load"))
        .and_then(|i| i["id"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no invoice of platform load: {body}"))?;
    let client = reqwest::Client::new();
    let issued = client
        .post(format!("{}/v1/invoices/{first}/issue", gateway.address))
        .bearer_auth(&finance)
        .json(&json!({}))
        .send()
        .await?;
    anyhow::ensure!(
        issued.status().is_success(),
        "issue: {}",
        issued.text().await?
    );
    let mut later = batch(2_000_000, 1000, "load-", certified_at);
    for (i, event) in later["events"]
        .as_array_mut()
        .expect("a batch")
        .iter_mut()
        .enumerate()
    {
        event["event_id"] = json!(format!("ew-{i:04}"));
    }
    post(
        &client,
        &format!("{}/v1/completions", gateway.address),
        &load,
        &serialised(vec![later]).remove(0),
        200,
    )
    .await?;
    let began = Instant::now();
    let rerun = client
        .post(format!("{}/v1/invoice-runs", gateway.address))
        .bearer_auth(&finance)
        .json(&json!({"period": period, "payer": "province"}))
        .send()
        .await?;
    let rerun_time = began.elapsed();
    let rerun: Value = serde_json::from_str(&rerun.text().await?)?;
    let next = rerun
        .as_array()
        .and_then(|d| d.iter().find(|i| i["platform"] == "load"))
        .ok_or_else(|| anyhow::anyhow!("no second invoice: {rerun}"))?;
    let began = Instant::now();
    let read = client
        .get(format!(
            "{}/v1/invoices/{}",
            gateway.address,
            next["id"].as_str().unwrap_or("")
        ))
        .bearer_auth(&finance)
        .send()
        .await?;
    let read_time = began.elapsed();
    let read: Value = serde_json::from_str(&read.text().await?)?;
    println!(
        "the next invoice ({} completions newly included, first listed {}): run {:.2} s, read {:.1} ms",
        read["completions_total"],
        read["completions"][0]["event_id"],
        rerun_time.as_secs_f64(),
        ms(read_time)
    );

    let began = Instant::now();
    let mut check = Command::new(sibling("gateway"))
        .arg("check")
        .env("DATABASE_URL", &database.url)
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = check.id();
    let mut peak = 0.0f64;
    while check.try_wait()?.is_none() {
        peak = peak.max(peak_rss_mib(pid).unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = check.wait_with_output()?;
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    println!(
        "gateway check: {:.2} s, peak RSS {peak:.1} MiB, status {}",
        began.elapsed().as_secs_f64(),
        report["status"]
    );
    drop(gateway);
    let (bytes, objects) = database.sizes()?;
    let per = |b: u64| b as f64 / completions as f64;
    println!(
        "database: {:.1} MiB, {:.0} bytes per completion; per completion by table and index:",
        bytes as f64 / (1024.0 * 1024.0),
        per(bytes)
    );
    for (name, size) in objects.iter().filter(|(_, size)| per(*size) >= 1.0) {
        println!("  {name}: {:.0}", per(*size));
    }
    Ok(())
}

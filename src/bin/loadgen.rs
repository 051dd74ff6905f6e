//! Load generator: starts `gateway serve` (the binary beside this one) on a fresh database and
//! measures single-event webhooks from concurrent clients and 1,000-event batches.
//!
//! `cargo build --release && target/release/loadgen` (SQLite), or with
//! `--postgres postgres://postgres@127.0.0.1:5432/postgres` for a fresh PostgreSQL database.

use clap::Parser;
use diesel::{Connection, PgConnection, RunQueryDsl};
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
    /// An existing PostgreSQL server to create a fresh database on; SQLite in a temp dir if absent.
    #[arg(long)]
    postgres: Option<String>,
    /// Concurrent clients posting single events.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Single-event webhooks to post in all.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// 1,000-event batches to post.
    #[arg(long, default_value_t = 20)]
    batches: usize,
    /// Concurrent clients posting batches.
    #[arg(long, default_value_t = 4)]
    batch_clients: usize,
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

fn start(database_url: &str) -> anyhow::Result<Gateway> {
    let mut child = Command::new(sibling("gateway"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("GATEWAY_RATE_PER_SECOND", "1000000")
        .env("GATEWAY_RATE_BURST", "1000000")
        .env("RUST_LOG", "warn,subsidy_gateway::startup=info")
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
    std::thread::spawn(move || lines.for_each(drop));
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

/// Peak resident memory of a process, from the kernel's high-water mark.
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

/// Event `n`: a distinct learner on one of 500 courses, so every event is metered for real.
fn event(n: usize, certified_at: &str) -> Value {
    let first17 = format!("140105{:04}0101{:03}", 1950 + (n / 1000) % 50, n % 1000);
    let birth_shift = n / 50_000; // beyond 50,000 learners vary the region instead
    let first17 = format!("{}{}", 110_101 + birth_shift, &first17[6..]);
    json!({
        "event_id": format!("ev-{n}"),
        "course_code": format!("course-{}", n % 500),
        "learner": {"id_number": IdNumber::complete(&first17), "name": format!("学员{n}")},
        "class_hours": 10,
        "certificate_no": format!("CERT-{n}"),
        "certified_at": certified_at,
    })
}

struct Figures {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn print(&mut self, label: &str) {
        self.latencies.sort();
        println!(
            "{label}: {} events in {:.2} s = {:.0} events/s; request latency p50 {:.1} ms, p99 {:.1} ms",
            self.events,
            self.elapsed.as_secs_f64(),
            self.events as f64 / self.elapsed.as_secs_f64(),
            percentile(&self.latencies, 50).as_secs_f64() * 1000.0,
            percentile(&self.latencies, 99).as_secs_f64() * 1000.0,
        );
    }
}

/// Posts `bodies` from `clients` concurrent clients; every answer must be 200.
async fn drive(
    address: &str,
    token: &str,
    clients: usize,
    bodies: Vec<Value>,
    events_each: usize,
) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (client, bodies, next) = (client.clone(), bodies.clone(), next.clone());
            let url = format!("{address}/v1/completions");
            let token = token.to_owned();
            tokio::spawn(async move {
                let mut latencies = vec![];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(body)
                        .send()
                        .await?;
                    anyhow::ensure!(
                        response.status().is_success(),
                        "status {}: {}",
                        response.status(),
                        response.text().await?
                    );
                    response.bytes().await?;
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
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _dir;
    let mut cleanup = None;
    let database_url = match &args.postgres {
        Some(admin) => {
            let name = format!("gw_load_{}", std::process::id());
            let mut conn = PgConnection::establish(admin)?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
            cleanup = Some((admin.clone(), name.clone()));
            format!(
                "{}/{name}",
                admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
            )
        }
        None => {
            _dir = tempfile_dir()?;
            format!("sqlite://{}/load.db", _dir.display())
        }
    };
    let backend = if args.postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let gateway = start(&database_url)?;
    let admin = token(&database_url, &["--role", "admin", "--sub", "loadgen"])?;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/v1/platforms", gateway.address))
        .bearer_auth(&admin)
        .json(&json!({"code": "load", "name": "Load"}))
        .send()
        .await?;
    anyhow::ensure!(
        created.status().is_success(),
        "platform: {}",
        created.text().await?
    );
    let platform = token(&database_url, &["--role", "platform", "--platform", "load"])?;
    for c in 0..500 {
        let course = client
            .put(format!("{}/v1/courses/course-{c}", gateway.address))
            .bearer_auth(&platform)
            .json(&json!({"title": "course", "level": "junior", "class_hours": 10}))
            .send()
            .await?;
        anyhow::ensure!(course.status().is_success(), "course");
    }
    let certified_at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    println!(
        "backend: {backend}; {} single events from {} clients; {} batches of 1,000 from {} clients",
        args.events, args.clients, args.batches, args.batch_clients
    );

    let singles = (0..args.events).map(|n| event(n, &certified_at)).collect();
    drive(&gateway.address, &platform, args.clients, singles, 1)
        .await?
        .print("single-event webhooks");
    let offset = args.events;
    let batches = (0..args.batches)
        .map(|b| json!({"events": (0..1000).map(|i| event(offset + b * 1000 + i, &certified_at)).collect::<Vec<_>>()}))
        .collect();
    drive(
        &gateway.address,
        &platform,
        args.batch_clients,
        batches,
        1000,
    )
    .await?
    .print("1,000-event batches");
    if let Some(mib) = peak_rss_mib(gateway.child.id()) {
        println!("gateway peak RSS: {mib:.1} MiB");
    }
    drop(gateway);
    if let Some((admin, name)) = cleanup {
        let mut conn = PgConnection::establish(&admin)?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)?;
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("gateway-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

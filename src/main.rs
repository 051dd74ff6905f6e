//! `gateway`: serve, migrate, mint tokens, print the OpenAPI document.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use subsidy_gateway::auth::Role;
use subsidy_gateway::clock::SystemClock;
use subsidy_gateway::config::{Settings, DEFAULT_DATABASE_URL};
use subsidy_gateway::domain::reconcile::Verdict;
use subsidy_gateway::keys::Keys;
use subsidy_gateway::service::Gateway;
use subsidy_gateway::startup::Application;

#[derive(Parser)]
#[command(name = "gateway", version, about = "Subsidy billing gateway")]
struct Cli {
    /// sqlite://PATH (default, embedded) or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve {
        #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a signed token, for bootstrap and scripts.
    Token {
        /// admin, finance, platform, learner or bureau.
        #[arg(long)]
        role: Role,
        /// Subject: a user name, or the learner's ID number.
        #[arg(long)]
        sub: Option<String>,
        /// The platform code, for platform tokens.
        #[arg(long)]
        platform: Option<String>,
    },
    /// Print a one-time console sign-in link (valid 15 minutes), for bootstrap and development.
    LoginLink {
        /// admin, finance, platform or learner.
        #[arg(long)]
        role: Role,
        /// Subject: a user name, or the learner's ID number.
        #[arg(long)]
        sub: Option<String>,
        /// The platform code, for platform staff.
        #[arg(long)]
        platform: Option<String>,
        /// Where browsers reach this gateway.
        #[arg(
            long,
            env = "GATEWAY_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        base: String,
    },
    /// Check the books against their invariants; print the report (JSON) and exit 1 on a breach.
    Check,
    /// Print the OpenAPI document (YAML) built from the routes.
    Openapi,
    /// Make, rotate or move out the gateway's keys (kept outside the database).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Electronic vouchers.
    Vouchers {
        #[command(subcommand)]
        action: VouchersAction,
    },
}

#[derive(Subcommand)]
enum VouchersAction {
    /// Issue the vouchers of a CSV file (header: code,payer,id_number,valid_from,valid_until,
    /// level,course_code), a thousand at a time, each thousand all or none.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Write a new key file (mode 0600); never overwrites one.
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a new key to a key file that verifies but does not sign yet; restart every replica,
    /// then `promote` it.
    Rotate {
        #[arg(long)]
        file: PathBuf,
    },
    /// Make a key of the file the one that signs; the others keep verifying their tokens until
    /// removed from the file (after the longest token lifetime).
    Promote {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        kid: String,
    },
    /// Once, for a database of an earlier version: move its keys to a new key file and delete
    /// them from the database.
    Export {
        #[arg(long)]
        out: PathBuf,
    },
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("GATEWAY_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs();
    let command = cli.command.unwrap_or(Command::Serve {
        listen: std::env::var("GATEWAY_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into()),
    });
    match &command {
        Command::Openapi => {
            print!("{}", subsidy_gateway::http::api_doc().to_yaml()?);
            return Ok(());
        }
        Command::Keys {
            action: KeysAction::Generate { out },
        } => {
            Keys::generate().create(out)?;
            eprintln!("keys written to {} (mode 0600)", out.display());
            return Ok(());
        }
        Command::Keys {
            action: KeysAction::Rotate { file },
        } => {
            let (rotated, kid) = Keys::load(file)?.rotated();
            rotated.replace(file)?;
            eprintln!(
                "{} holds the new key {kid}, which verifies but does not sign yet; restart every \
                 gateway, then run `gateway keys promote --file {} --kid {kid}` and restart them again",
                file.display(),
                file.display()
            );
            return Ok(());
        }
        Command::Keys {
            action: KeysAction::Promote { file, kid },
        } => {
            Keys::load(file)?.promoted(kid)?.replace(file)?;
            eprintln!(
                "{} signs with {kid} from the next start; the other keys keep verifying",
                file.display()
            );
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::from_env(&cli.database_url)?;
    match command {
        Command::Serve { listen } => actix_web::rt::System::new().block_on(async move {
            let app = Application::build(&settings, Arc::new(SystemClock), &listen)?;
            app.run_until_stopped().await?;
            tracing::info!("gateway stopped");
            Ok(())
        }),
        Command::Migrate => {
            Gateway::open(&settings, Arc::new(SystemClock))?;
            eprintln!("migrations applied to {:?}", settings.database_url);
            Ok(())
        }
        Command::Token {
            role,
            sub,
            platform,
        } => {
            let gateway = Gateway::open(&settings, Arc::new(SystemClock))?;
            let subject = subject_of(role, sub, &platform)?;
            let token = gateway.cli_token(role, &subject, platform.as_deref())?;
            println!("{token}");
            Ok(())
        }
        Command::LoginLink {
            role,
            sub,
            platform,
            base,
        } => {
            if matches!(role, Role::Bureau | Role::VoucherSystem) {
                anyhow::bail!("the console has no pages for {}", role.as_str());
            }
            let gateway = Gateway::open(&settings, Arc::new(SystemClock))?;
            let subject = subject_of(role, sub, &platform)?;
            let token = gateway.sign_in_link(role, &subject, platform.as_deref())?;
            println!("{}/console/link?token={token}", base.trim_end_matches('/'));
            Ok(())
        }
        Command::Check => {
            let report = Gateway::open(&settings, Arc::new(SystemClock))?.reconcile()?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if report.status == Verdict::Breached {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Export { out },
        } => {
            subsidy_gateway::service::export_database_keys(&settings, &out)?;
            eprintln!(
                "keys written to {} (mode 0600) and deleted from the database; start with GATEWAY_KEYS_FILE={}",
                out.display(),
                out.display()
            );
            Ok(())
        }
        Command::Vouchers {
            action: VouchersAction::Import { file },
        } => {
            let gateway = Gateway::open(&settings, Arc::new(SystemClock))?;
            let issued = subsidy_gateway::service::vouchers::import_csv(&gateway, &file)?;
            eprintln!("{issued} vouchers issued from {}", file.display());
            Ok(())
        }
        Command::Openapi | Command::Keys { .. } => unreachable!("handled above"),
    }
}

/// Whom a bootstrap credential is for: `--sub`, or for platforms `cli:<code>` by default.
fn subject_of(
    role: Role,
    sub: Option<String>,
    platform: &Option<String>,
) -> anyhow::Result<String> {
    Ok(match (role, sub, platform) {
        (Role::Platform, sub, Some(code)) => sub.unwrap_or_else(|| format!("cli:{code}")),
        (Role::Platform, _, None) => anyhow::bail!("--platform is required for platform accounts"),
        (_, _, Some(_)) => anyhow::bail!("--platform is only for platform accounts"),
        (_, Some(sub), None) => sub,
        (_, None, None) => anyhow::bail!("--sub is required"),
    })
}

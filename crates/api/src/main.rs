//! The `api` binary: `api serve` (the default), `api migrate`, `api gen-secret`.

use std::process::ExitCode;

use api::{telemetry, Application, Config};
use clap::{Parser, Subcommand};

/// strata: accounts, revocable JWT sessions and a per-user task list.
#[derive(Parser)]
#[command(name = "api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrates the database first). The default.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a fresh random JWT_API_SECRET (32 bytes, hex).
    GenSecret,
}

fn load_dotenv() -> Result<(), String> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        Err(e) => Err(format!("error: cannot read .env: {e}")),
    }
}

fn config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|errors| {
        for e in errors {
            eprintln!("error: {e}");
        }
        eprintln!("strata did not start: fix the settings above (see .env.example)");
        ExitCode::from(2)
    })
}

async fn serve() -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let telemetry = telemetry::init(config.log_format, &config.rust_log, config.otel.as_ref());
    if config.infra.redis.is_none() {
        tracing::warn!(
            "REDIS_URL is not set: using the in-memory token store, which serves one process only"
        );
    }
    if let Some(line) = config.auth.password_hash.below_owasp_minimum() {
        tracing::warn!("{line}: fine for tests, too weak for production (which refuses it)");
    }
    if config.auth.mfa.keys.is_none() {
        tracing::warn!(
            "MFA_ENCRYPTION_KEY is not set: TOTP secrets are sealed under a key derived from JWT_API_SECRET; set a key of their own before production"
        );
    }
    let addr = config.bind_addr;
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            eprintln!("error: {e}");
            telemetry.shutdown();
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %addr.ip(), port = app.port(), "listening");
    let code = match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn migrate() -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let telemetry = telemetry::init(config.log_format, &config.rust_log, None);
    let outcome = services::bootstrap::migrate(&config.infra.database_url).await;
    telemetry.shutdown();
    match outcome {
        Ok(n) => {
            println!("{n} migration(s) applied to {}", config.infra.database_url);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn gen_secret() -> ExitCode {
    let bytes: [u8; 32] = rand::random();
    println!("{}", hex::encode(bytes));
    ExitCode::SUCCESS
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = load_dotenv() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::GenSecret => gen_secret(),
    }
}

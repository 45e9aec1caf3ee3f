//! The `api` binary: `api serve` (the default), `api migrate`, `api gen-secret`,
//! `api keys list|rotate|revoke`.

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
    /// The access tokens' signing keys (JWT_ALGORITHM=EdDSA or ES256).
    #[command(subcommand)]
    Keys(Keys),
    /// Make or unmake admins (the only way to make the first one).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make the account an admin.
    Grant {
        /// Its username or email address.
        account: String,
    },
    /// Make the admin an ordinary user again (refused for the last admin).
    Revoke {
        /// Its username or email address.
        account: String,
    },
}

#[derive(Subcommand)]
enum Keys {
    /// Every key: kid, algorithm, state and when it moved.
    List,
    /// Publish a new key; it signs once published for JWKS_MAX_AGE (a second rotate, or any
    /// instance's refresh after that, promotes it).
    Rotate,
    /// Unpublish a key after a leak: every running instance refuses the tokens it signed
    /// within a second.
    Revoke {
        /// The key's id, as `api keys list` shows it.
        kid: String,
    },
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
    let public_url = config.auth.mail.public_url.clone();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            eprintln!("error: {e}");
            telemetry.shutdown();
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %addr.ip(), port = app.port(), url = %public_url, "listening");
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
    let outcome = services::bootstrap::migrate(&config.infra.database).await;
    telemetry.shutdown();
    match outcome {
        Ok(n) => {
            println!("{n} migration(s) applied to {}", config.infra.database.url);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn keys(command: Keys) -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let telemetry = telemetry::init(config.log_format, &config.rust_log, None);
    let outcome = run_keys(command, config).await;
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_keys(command: Keys, config: Config) -> Result<(), String> {
    let keys = services::bootstrap::signing_keys(config.infra.clone(), config.auth.clone())
        .await
        .map_err(|e| e.to_string())?;
    match command {
        Keys::List => {
            let all = keys.list().await.map_err(|e| e.to_string())?;
            if all.is_empty() {
                println!(
                    "no signing keys (JWT_ALGORITHM=HS256, or the service has not started yet)"
                );
            }
            for k in all {
                let when = |t: Option<chrono::NaiveDateTime>| {
                    t.map_or("-".to_owned(), |t| {
                        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                    })
                };
                println!(
                    "{}  {:<5}  {:<8}  created {}  signing since {}  until {}  unpublished {}",
                    k.kid,
                    k.algorithm,
                    k.state,
                    when(Some(k.created_at)),
                    when(k.activated_at),
                    when(k.deactivated_at),
                    when(k.retired_at)
                );
            }
        }
        Keys::Rotate => match keys.rotate().await.map_err(|e| e.to_string())? {
            services::signing::Rotation::Published { kid, at } => {
                println!("published {kid}; it signs from {at} (run `api keys rotate` again then, or let an instance promote it)");
            }
            services::signing::Rotation::Waiting { kid, at } => {
                println!("{kid} is published but signs only from {at} (JWKS_MAX_AGE after it was)");
            }
            services::signing::Rotation::Promoted { kid, previous } => {
                println!(
                    "{kid} signs now; {} verifies until its tokens expire",
                    previous.as_deref().unwrap_or("no previous key")
                );
            }
        },
        Keys::Revoke { kid } => {
            if keys.revoke(&kid).await.map_err(|e| e.to_string())? {
                println!(
                    "revoked {kid}: every running instance refuses its tokens within {} s",
                    services::signing::WATCH_EVERY.as_secs()
                );
            } else {
                return Err(format!("no published key {kid}"));
            }
        }
    }
    Ok(())
}

async fn admin(command: AdminCommand) -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (account, role) = match &command {
        AdminCommand::Grant { account } => (account, "admin"),
        AdminCommand::Revoke { account } => (account, "user"),
    };
    let require = config.auth.admin_require_second_factor;
    let outcome = match services::bootstrap::roles(config.infra.clone(), require).await {
        Ok(roles) => roles.set(account, role).await.map_err(|e| match e {
            services::ServiceError::NotFound => format!("no account {account:?}"),
            services::ServiceError::LastAdmin => {
                format!("{account} is the last admin: make another admin first")
            }
            services::ServiceError::Validation(errors) => errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
            e => e.to_string(),
        }),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(user) => {
            println!("{} ({}) is now {}", user.username, user.email, user.role);
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
    services::install_tls_provider();
    let cli = Cli::parse();
    if let Err(e) = load_dotenv() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::GenSecret => gen_secret(),
        Command::Keys(command) => keys(command).await,
        Command::Admin(command) => admin(command).await,
    }
}

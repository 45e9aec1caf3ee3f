//! `floor`: the lower bound `make bench` measures strata against. It serves strata's paths
//! with bare actix-web handlers that do only the I/O each route needs (JWT HS256 verify,
//! one token-store round trip, one SQL statement), with no middleware and no logging.
//!
//! `floor serve` (the default) reads strata's variables: `DATABASE_URL`, `REDIS_URL`
//! (unset: an in-memory map), `REDIS_KEY_PREFIX`, `JWT_API_SECRET`, `JWT_ISSUER`,
//! `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL`, `REFRESH_TOKEN_TTL`, `SESSION_MAX_LIFETIME`,
//! `REFRESH_REUSE_GRACE`, `BIND_ADDR` (default 127.0.0.1:8081), `HTTP_WORKERS`,
//! `DB_POOL_SIZE`; and its own `FLOOR_DB_MODE` (`pool` | `inline`) and `FLOOR_REDIS_MODE`
//! (`shared` | `per-worker`).
//! `floor bcrypt-hash COST` and `floor argon2id-hash MEMORY_KIB ITERATIONS PARALLELISM`
//! print the hash of the password read from stdin (the bench seeds users with them); a
//! login verifies either, by the algorithm the stored hash names.

mod db;
mod handlers;
mod store;
mod tokens;

use std::io::Read;
use std::process::ExitCode;

use actix_web::{web, App, HttpServer};
use tokio::sync::Semaphore;

use handlers::{Lifetimes, State};

fn var(key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `15m`, `7d`, `10s`, `250ms`, or seconds; in milliseconds.
fn millis(key: &str, default_ms: i64) -> Result<i64, String> {
    let Some(raw) = var(key) else {
        return Ok(default_ms);
    };
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (num, unit) = raw.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("{key}: bad duration"))?;
    let factor = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{key}: bad duration")),
    };
    Ok(n * factor)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

async fn serve() -> Result<(), String> {
    let secret = var("JWT_API_SECRET").ok_or("JWT_API_SECRET is not set")?;
    let issuer = var("JWT_ISSUER").unwrap_or_else(|| "strata".into());
    let audience = var("JWT_AUDIENCE").unwrap_or_else(|| "strata-api".into());
    let mut keys = tokens::Keys::new(&secret, &issuer, &audience)?;
    if let Some(jwks) = var("FLOOR_JWKS") {
        keys = keys.with_published(&jwks)?;
    }
    let lifetimes = Lifetimes {
        access: millis("ACCESS_TOKEN_TTL", 900_000)? / 1000,
        refresh: millis("REFRESH_TOKEN_TTL", 604_800_000)? / 1000,
        session_max: millis("SESSION_MAX_LIFETIME", 2_592_000_000)? / 1000,
        grace_ms: millis("REFRESH_REUSE_GRACE", 10_000)?,
    };
    let target = db::Target::parse(&var("DATABASE_URL").ok_or("DATABASE_URL is not set")?)?;
    let pool_size: u32 = var("DB_POOL_SIZE")
        .map(|v| v.parse().map_err(|_| "DB_POOL_SIZE: bad number"))
        .transpose()?
        .unwrap_or(10);
    let db_mode = var("FLOOR_DB_MODE").unwrap_or_else(|| "pool".into());
    let db = db::Db::new(target, &db_mode, pool_size)?;
    let store = match var("REDIS_URL") {
        Some(url) => {
            let prefix = var("REDIS_KEY_PREFIX").unwrap_or_else(|| "strata:".into());
            let per_worker = match var("FLOOR_REDIS_MODE").as_deref() {
                None | Some("shared") => false,
                Some("per-worker") => true,
                Some(other) => return Err(format!("FLOOR_REDIS_MODE {other:?}")),
            };
            store::Store::redis(&url, &prefix, per_worker).await?
        }
        None => store::Store::memory(),
    };
    let workers: usize = var("HTTP_WORKERS")
        .map(|v| v.parse().map_err(|_| "HTTP_WORKERS: bad number"))
        .transpose()?
        .unwrap_or_else(cores);
    let bind = var("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8081".into());
    let state = web::Data::new(State {
        keys,
        store,
        db,
        lifetimes,
        bcrypt: Semaphore::new(cores()),
    });
    eprintln!("floor: listening on {bind} (db {db_mode}, {workers} workers)");
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/health", web::get().to(handlers::health))
            .route("/api/users/me", web::get().to(handlers::me))
            .route("/api/tasks", web::get().to(handlers::list_tasks))
            .route("/api/tasks", web::post().to(handlers::create_task))
            .route("/api/auth/refresh", web::post().to(handlers::refresh))
            .route("/api/auth/login", web::post().to(handlers::login))
    })
    .workers(workers)
    .bind(&bind)
    .map_err(|e| format!("cannot listen on {bind}: {e}"))?
    .run()
    .await
    .map_err(|e| e.to_string())
}

fn bcrypt_hash(cost: Option<&String>) -> Result<(), String> {
    let cost: u32 = cost
        .ok_or("usage: floor bcrypt-hash COST < password")?
        .parse()
        .map_err(|_| "COST must be a number")?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| e.to_string())?;
    let hash = bcrypt::hash(password.trim_end_matches('\n'), cost).map_err(|e| e.to_string())?;
    println!("{hash}");
    Ok(())
}

/// `floor argon2id-hash M T P < password`: the argon2id hash (memory KiB, iterations, lanes).
fn argon2id_hash(args: &[String]) -> Result<(), String> {
    use argon2::password_hash::PasswordHasher;
    let usage = "usage: floor argon2id-hash MEMORY_KIB ITERATIONS PARALLELISM < password";
    let n = |i: usize| -> Result<u32, String> {
        args.get(i)
            .ok_or(usage)?
            .parse()
            .map_err(|_| usage.to_owned())
    };
    let params = argon2::Params::new(n(0)?, n(1)?, n(2)?, None).map_err(|e| e.to_string())?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| e.to_string())?;
    let hash = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.trim_end_matches('\n').as_bytes())
        .map_err(|e| e.to_string())?;
    println!("{hash}");
    Ok(())
}

#[actix_web::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("bcrypt-hash") => bcrypt_hash(args.get(1)),
        Some("argon2id-hash") => argon2id_hash(&args[1..]),
        Some(other) => Err(format!(
            "unknown command {other:?}: serve | bcrypt-hash COST | argon2id-hash M T P"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Building the server: bind first (port 0 in tests), then serve. Used by the binary and by
//! the end-to-end tests alike.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};
use services::{FieldError, Services};

use crate::config::Config;
use crate::error::ApiError;
use crate::extract::{BodyDeadline, BODY_LIMIT};
use crate::routes;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Startup(#[from] services::StartupError),
    #[error(transparent)]
    Secret(#[from] services::SecretError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("mail: {0}")]
    Mail(String),
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    services: Services,
    /// Stops the background workers (the outbox, the key refresher, the audit pruner),
    /// whose tasks are awaited after the server stops.
    workers_stop: tokio::sync::watch::Sender<bool>,
    workers: Vec<actix_web::rt::task::JoinHandle<()>>,
}

fn cors(origins: &[String]) -> Cors {
    let base = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(3600);
    // Tokens travel in the Authorization header, never in cookies: no credentials mode.
    if origins.iter().any(|o| o == "*") {
        return base.allow_any_origin();
    }
    origins
        .iter()
        .fold(base, |cors, origin| cors.allowed_origin(origin))
}

/// Headers on every answer: no MIME sniffing, no framing, no referrer, and a policy that
/// lets a JSON answer load nothing. The pages at `/` and `/docs` send their own policy.
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS
        .into_iter()
        .fold(DefaultHeaders::new(), |d, h| d.add(h))
}

/// [`SECURITY_HEADERS`] on an answer built outside the middleware (a CORS refusal).
pub(crate) fn add_security_headers(headers: &mut header::HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, header::HeaderValue::from_static(value));
        }
    }
}

impl Application {
    /// Connects to the database and the token store, then binds `config.bind_addr`.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let keys = config.jwt_keys()?;
        let services =
            services::bootstrap::start(config.infra.clone(), keys, config.auth.clone()).await?;
        Self::with_services(config, services)
    }

    /// Binds and prepares the server over already-built services.
    pub fn with_services(config: Config, services: Services) -> Result<Self, StartError> {
        let listener = TcpListener::bind(config.bind_addr).map_err(|source| StartError::Bind {
            addr: config.bind_addr,
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.bind_addr,
                source,
            })?
            .port();
        crate::metrics::install();
        let worker = services::Courier::new(&services.mailer).map_err(StartError::Mail)?;
        let (workers_stop, stopped) = tokio::sync::watch::channel(false);
        let workers = vec![
            actix_web::rt::spawn(worker.run(stopped.clone())),
            // Also with HS256: an instance reads the published keys, to verify the tokens
            // of instances that already sign with them.
            actix_web::rt::spawn(services.signing.clone().run(stopped.clone())),
            actix_web::rt::spawn(services.audit.clone().run(stopped.clone())),
            actix_web::rt::spawn(services.oidc.providers().clone().run(stopped.clone())),
            actix_web::rt::spawn(services.health.clone().watch_replicas(stopped)),
        ];
        let data = web::Data::new(services.clone());
        let proxies = web::Data::new(crate::extract::TrustedProxies(
            config.trusted_proxies.clone(),
        ));
        let origins = config.cors_allowed_origins.clone();
        let deadline = BodyDeadline(config.body_timeout);
        let server = HttpServer::new(move || {
            // The last `wrap` runs first: observe sees every answer, CORS refusals included.
            App::new()
                .wrap(from_fn(crate::middleware::head_as_get))
                .wrap(cors(&origins))
                .wrap(from_fn(crate::middleware::cors_errors_as_problems))
                .wrap(security_headers())
                .wrap(from_fn(crate::telemetry::request::observe))
                .app_data(data.clone())
                .app_data(proxies.clone())
                .app_data(deadline)
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    ApiError::InvalidBody(vec![FieldError::new("query", err.to_string())]).into()
                }))
                .route("/metrics", web::get().to(crate::metrics::scrape))
                .configure(routes::configure)
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::RouteNotFound)
                }))
        })
        .workers(config.workers)
        // Headers must arrive within 5 s of the connection (408 otherwise) and an idle
        // keep-alive connection closes after 5 s; bodies have `BODY_TIMEOUT`.
        .client_request_timeout(std::time::Duration::from_secs(5))
        .keep_alive(std::time::Duration::from_secs(5))
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: config.bind_addr,
            source,
        })?
        .run();
        Ok(Self {
            port,
            server,
            services,
            workers_stop,
            workers,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The services behind the server (tests inspect state through them).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// A handle that can stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight and returns.
    /// The outbox worker stops after the server, at the end of its round: rows still due
    /// wait in the outbox for the next instance to start.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.workers_stop.send(true);
        for worker in std::mem::take(&mut self.workers) {
            let _ = worker.await;
        }
        served
    }
}

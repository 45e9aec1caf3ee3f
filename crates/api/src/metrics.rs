//! Prometheus metrics at `/metrics`: requests by route pattern, method and status with a
//! latency histogram; auth outcomes (counted by the services); pool figures; build info.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use services::Services;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide recorder once; later calls (tests build several apps in one
/// process) reuse it.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(
                Matcher::Full("strata_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            );
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    metrics::gauge!("strata_build_info", "version" => env!("CARGO_PKG_VERSION"))
                        .set(1.0);
                    start_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The counter and histogram of one (route, method, status).
struct Handles {
    method: String,
    status: u16,
    count: Counter,
    latency: Histogram,
}

/// Most (method, status) pairs kept per route; the rest are looked up every time.
const PER_ROUTE: usize = 64;

thread_local! {
    /// Each worker's handles by route, so a request costs two atomic updates, not a
    /// registry lookup with three label strings.
    static HANDLES: RefCell<HashMap<String, Vec<Handles>>> = RefCell::new(HashMap::new());
}

fn handles(method: &str, route: &str, status: u16) -> (Counter, Histogram) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    (
        metrics::counter!("strata_http_requests_total", &labels),
        metrics::histogram!("strata_http_request_duration_seconds", &labels),
    )
}

/// How often the histograms' raw samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The exporter keeps every histogram sample until upkeep folds it into the buckets;
/// `install_recorder` leaves upkeep to the caller. Without it, memory grows by the
/// sample list of every request until `/metrics` is scraped.
fn start_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "metrics upkeep thread not started: scrape /metrics often");
    }
}

/// Counts one request and its latency.
pub fn record_request(method: &str, route: &str, status: u16, latency: Duration) {
    let seconds = latency.as_secs_f64();
    HANDLES.with_borrow_mut(|cache| {
        let known = cache
            .get(route)
            .and_then(|v| v.iter().find(|h| h.status == status && h.method == method));
        if let Some(h) = known {
            h.count.increment(1);
            h.latency.record(seconds);
            return;
        }
        let (count, latency) = handles(method, route, status);
        count.increment(1);
        latency.record(seconds);
        let per_route = cache.entry(route.to_owned()).or_default();
        if per_route.len() < PER_ROUTE {
            per_route.push(Handles {
                method: method.to_owned(),
                status,
                count,
                latency,
            });
        }
    });
}

/// `GET /metrics`: the Prometheus text format.
pub async fn scrape(services: web::Data<Services>) -> HttpResponse {
    let stats = services.health.infra_stats();
    let db = stats.database;
    metrics::gauge!("strata_db_pool_connections", "state" => "open").set(f64::from(db.open));
    metrics::gauge!("strata_db_pool_connections", "state" => "idle").set(f64::from(db.idle));
    metrics::gauge!("strata_db_pool_connections", "state" => "in_use")
        .set(f64::from(db.open.saturating_sub(db.idle)));
    metrics::gauge!("strata_db_pool_max_connections").set(f64::from(db.max));
    metrics::gauge!("strata_db_pool_waiting").set(db.waiting as f64);
    if let Some(redis) = stats.redis {
        metrics::gauge!("strata_redis_commands_in_flight").set(redis.in_flight as f64);
        metrics::gauge!("strata_redis_waiting").set(redis.waiting as f64);
        metrics::gauge!("strata_redis_connections").set(redis.connections as f64);
    }
    // Replicas by their place in DATABASE_REPLICA_URLS, never by URL (no password, few labels).
    for replica in services.health.replicas() {
        use services::health::ReplicaState as S;
        let n = replica.index.to_string();
        let serving = matches!(replica.state, S::Serving { .. });
        metrics::gauge!("strata_db_replica_serving", "replica" => n.clone()).set(if serving {
            1.0
        } else {
            0.0
        });
        if let S::Serving { lag } | S::Lagging { lag } = replica.state {
            metrics::gauge!("strata_db_replica_lag_seconds", "replica" => n).set(lag.as_secs_f64());
        }
    }
    let body = install().map(|h| h.render()).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

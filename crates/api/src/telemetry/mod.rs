//! Logging and tracing: one subscriber with JSON or pretty log lines, and, in a build with
//! the `otlp` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, OpenTelemetry spans exported
//! over OTLP/HTTP (one span per request, child spans for database and token-store calls),
//! with the trace id on the request's log lines.
//!
//! The parts, in the order a request meets them:
//! - `request`: the middleware: request id, the request's span, its one log line (logged
//!   with the target [`REQUEST_TARGET`]) and its metrics;
//! - `json`: the JSON line format, which writes that request line by a direct path;
//! - `sink`: the writer thread that takes formatted lines to stderr in batches;
//! - `otlp` (feature `otlp`): the exporter of spans;
//! - this file: the subscriber that ties them together.

mod json;
#[cfg(feature = "otlp")]
mod otlp;
pub mod request;
pub mod sink;

use json::json_layer;

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;
use sink::{LogSink, SinkGuard};

/// Where to send traces.
#[derive(Debug, Clone)]
pub struct OtelSettings {
    /// The collector's base URL, e.g. `http://127.0.0.1:4318`; spans go to `/v1/traces`.
    pub endpoint: String,
    pub service_name: String,
}

/// Keeps the log writer and the exporter alive; [`Telemetry::shutdown`] flushes both.
#[must_use]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    exporter: Option<otlp::Exporter>,
    writer: Option<SinkGuard>,
}

impl Telemetry {
    /// Writes the log lines and sends the spans still buffered.
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(e) = self.exporter {
            e.shutdown();
        }
        if let Some(w) = self.writer {
            w.flush();
        }
    }
}

static OTEL_ON: AtomicBool = AtomicBool::new(false);

/// The target of the one line logged when a request ends: `request` logs it with this
/// target, and `json` writes events of this target by its direct path.
pub const REQUEST_TARGET: &str = "strata::request";

/// Whether spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT` was set).
pub fn otel_on() -> bool {
    OTEL_ON.load(Ordering::Relaxed)
}

/// Puts the OpenTelemetry trace id on `span` (a request's root span) and returns it, so
/// the request's log line can name its trace.
pub fn record_trace_id(span: &tracing::Span) -> Option<String> {
    if !otel_on() {
        return None;
    }
    #[cfg(feature = "otlp")]
    return Some(otlp::record_trace_id(span));
    #[cfg(not(feature = "otlp"))]
    {
        let _ = span;
        None
    }
}

/// Installs the global subscriber; a second call (tests) keeps the first.
pub fn init(format: LogFormat, filter: &str, otel: Option<&OtelSettings>) -> Telemetry {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Lines are formatted on the request's thread and written in batches by a thread of
    // their own (see `sink`), so a slow stderr never stalls a worker.
    let (writer, guard) = LogSink::new(std::io::stderr());
    let fmt = match format {
        LogFormat::Json => json_layer(writer).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .compact()
            .boxed(),
    };
    #[cfg(feature = "otlp")]
    let (exporter, otel_layer) = match otel.map(otlp::layer) {
        Some(Ok((exporter, layer))) => {
            OTEL_ON.store(true, Ordering::Relaxed);
            (Some(exporter), Some(layer))
        }
        Some(Err(e)) => {
            eprintln!("warning: traces will not be exported: {e}");
            (None, None)
        }
        None => (None, None),
    };
    #[cfg(not(feature = "otlp"))]
    let otel_layer: Option<tracing_subscriber::layer::Identity> = {
        // Without the feature, configuration refuses OTEL_EXPORTER_OTLP_ENDPOINT.
        debug_assert!(otel.is_none());
        None
    };
    let result = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel_layer)
        .try_init();
    if let Err(e) = result {
        tracing::debug!(error = %e, "logging already initialised");
    }
    Telemetry {
        #[cfg(feature = "otlp")]
        exporter,
        writer: Some(guard),
    }
}

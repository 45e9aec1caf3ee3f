//! Logging and tracing: one subscriber with JSON or pretty log lines, and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry spans exported over OTLP/HTTP
//! (one span per request, child spans for database and token-store calls), with the trace
//! id on the request's log lines.
//!
//! The parts, in the order a request meets them:
//! - `request`: the middleware: request id, the request's span, its one log line (logged
//!   with the target [`REQUEST_TARGET`]) and its metrics;
//! - `json`: the JSON line format, which writes that request line by a direct path;
//! - `sink`: the writer thread that takes formatted lines to stderr in batches;
//! - this file: the subscriber that ties them together, and the OTLP exporter.

mod json;
pub mod request;
pub mod sink;

use json::json_layer;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
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
    provider: Option<SdkTracerProvider>,
    writer: Option<SinkGuard>,
}

impl Telemetry {
    /// Writes the log lines and sends the spans still buffered.
    pub fn shutdown(self) {
        if let Some(p) = self.provider {
            if let Err(e) = p.shutdown() {
                eprintln!("trace export did not flush: {e}");
            }
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
    let trace_id = span.context().span().span_context().trace_id().to_string();
    span.record("trace_id", trace_id.as_str());
    Some(trace_id)
}

/// Spans sent to the collector: the request span, and the database and token-store spans
/// (DEBUG, so that they cost nothing when no traces are exported).
fn exported() -> Targets {
    Targets::new()
        .with_target("api", Level::INFO)
        .with_target("services", Level::INFO)
        .with_target("repos", Level::DEBUG)
        .with_target("db", Level::DEBUG)
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
    let provider = otel.and_then(|o| match provider(o) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("warning: traces will not be exported: {e}");
            None
        }
    });
    let otel_layer = provider.as_ref().map(|p| {
        OTEL_ON.store(true, Ordering::Relaxed);
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("strata"))
            .with_filter(exported())
    });
    let result = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel_layer)
        .try_init();
    if let Err(e) = result {
        tracing::debug!(error = %e, "logging already initialised");
    }
    Telemetry {
        provider,
        writer: Some(guard),
    }
}

fn provider(o: &OtelSettings) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{}/v1/traces", o.endpoint.trim_end_matches('/')))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(o.service_name.clone())
                .build(),
        )
        .build())
}

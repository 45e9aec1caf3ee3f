//! Traces over OTLP/HTTP (feature `otlp`): the request span, and the database and
//! token-store spans under it, sent to `OTEL_EXPORTER_OTLP_ENDPOINT`.

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::OtelSettings;

/// Sends the spans; dropping it without [`Exporter::shutdown`] may lose the last ones.
pub(super) struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Sends the spans still buffered.
    pub(super) fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("trace export did not flush: {e}");
        }
    }
}

/// The exporter and its layer, or why there is none.
pub(super) fn layer<S>(
    o: &OtelSettings,
) -> Result<(Exporter, Box<dyn Layer<S> + Send + Sync>), String>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{}/v1/traces", o.endpoint.trim_end_matches('/')))
        .build()
        .map_err(|e| e.to_string())?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(o.service_name.clone())
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("strata"))
        .with_filter(exported())
        .boxed();
    Ok((Exporter(provider), layer))
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

/// The OpenTelemetry trace id of `span`, recorded on it.
pub(super) fn record_trace_id(span: &tracing::Span) -> String {
    let trace_id = span.context().span().span_context().trace_id().to_string();
    span.record("trace_id", trace_id.as_str());
    trace_id
}

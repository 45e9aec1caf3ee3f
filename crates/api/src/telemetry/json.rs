//! The JSON log line format: one flat object per line (timestamp, level, the fields,
//! target), the current span's fields under `span`. The request line (target
//! [`REQUEST_TARGET`]) is written field by field as the event is visited.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::REQUEST_TARGET;

/// The JSON log layer: one flat object per line, the current span's fields under `span`,
/// the request line and span fields written by the formatters below.
pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false);
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .fmt_fields(SpanFields)
        .event_format(RequestLineFormat(json))
}

/// The JSON event format, with a direct path for the request line: the same flat object
/// the JSON formatter writes (timestamp, level, the fields, target), written field by
/// field as the event is visited, without the generic formatter's JSON map and `Display`
/// round trip per field (bench/HISTORY.md has what that saved).
struct RequestLineFormat<F>(F);

impl<S, N, F> FormatEvent<S, N> for RequestLineFormat<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != REQUEST_TARGET {
            return self.0.format_event(ctx, writer, event);
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        write!(
            writer,
            r#"{{"timestamp":"{now}","level":"{}""#,
            meta.level()
        )?;
        let mut fields = JsonFields {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writeln!(writer, r#","target":"{REQUEST_TARGET}"}}"#)
    }
}

/// The fields of a span as a JSON object, which the JSON formatter copies into each line
/// logged inside the span (`"span":{...}`). Written field by field like the request line:
/// tracing-subscriber's own `JsonFields` builds a JSON map per span, about a tenth of the
/// logging cost of a request, and every request opens a span.
struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    /// A field whose value cannot be formatted leaves an empty object rather than a broken
    /// one (the JSON formatter would fail every line of the span).
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut members = String::new();
        if append_fields(&mut members, fields).is_err() {
            members.clear();
        }
        writer.write_char('{')?;
        writer.write_str(members.strip_prefix(',').unwrap_or(""))?;
        writer.write_char('}')
    }

    /// Fields recorded later join the object (a name recorded twice keeps its last value);
    /// a record that cannot be formatted is left out whole.
    fn add_fields(
        &self,
        current: &'w mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if !current.fields.ends_with('}') {
            return self.format_fields(current.as_writer(), fields);
        }
        let object = &mut current.fields;
        object.pop();
        let before = object.len();
        let result = append_fields(object, fields);
        if result.is_err() {
            object.truncate(before);
        } else if before == 1 && object.len() > before {
            // The object was `{}`: no comma after its `{`.
            object.remove(1);
        }
        object.push('}');
        result
    }
}

/// Appends `,"name":value` for each of `fields` to `out`.
fn append_fields(
    out: &mut String,
    fields: impl tracing_subscriber::field::RecordFields,
) -> fmt::Result {
    let mut visitor = JsonFields {
        out,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

/// Writes each visited field as `,"name":value`.
struct JsonFields<'a, W> {
    out: &'a mut W,
    result: fmt::Result,
}

impl<W: fmt::Write> JsonFields<'_, W> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            // Names are identifiers in practice, but tracing accepts any string literal.
            self.result = self
                .out
                .write_str(",\"")
                .and_then(|()| escape(self.out, field.name()))
                .and_then(|()| self.out.write_str("\":"))
                .and_then(|()| value(self.out));
        }
    }
}

impl<W: fmt::Write> Visit for JsonFields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // Straight to the escaper: through `format_args!` every value took a trip through
        // the formatting machinery (padding checks, a call per piece).
        self.field(field, |w| {
            w.write_char('"')?;
            escape(w, value)?;
            w.write_char('"')
        });
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| write!(w, "{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.field(field, |w| write!(w, "{value}"));
        } else {
            self.field(field, |w| w.write_str("null"));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| quoted(w, format_args!("{value:?}")));
    }
}

/// Writes `text` as a JSON string literal.
fn quoted<W: fmt::Write>(w: &mut W, text: fmt::Arguments<'_>) -> fmt::Result {
    w.write_char('"')?;
    EscapingWriter(w).write_fmt(text)?;
    w.write_char('"')
}

/// Escapes what JSON requires (quote, backslash, control characters) on the way through.
struct EscapingWriter<'a, W: ?Sized>(&'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for EscapingWriter<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(self.0, s)
    }
}

/// Writes `s` with JSON's escapes. Everything JSON escapes is ASCII, and no byte of a
/// multi-byte UTF-8 character is ASCII, so a scan over bytes finds them all and every cut
/// falls on a character boundary; plain runs are written whole.
fn escape<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    let mut rest = s;
    while let Some(i) = rest
        .bytes()
        .position(|b| b < 0x20 || b == b'"' || b == b'\\')
    {
        w.write_str(&rest[..i])?;
        match rest.as_bytes()[i] {
            b'"' => w.write_str("\\\"")?,
            b'\\' => w.write_str("\\\\")?,
            b'\n' => w.write_str("\\n")?,
            b'\r' => w.write_str("\\r")?,
            b'\t' => w.write_str("\\t")?,
            control => write!(w, "\\u{control:04x}")?,
        }
        rest = &rest[i + 1..];
    }
    w.write_str(rest)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn json_lines(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let out = Lines::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || sink.clone()));
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn the_request_line_is_one_flat_json_object_with_every_field() {
        let lines = json_lines(|| {
            tracing::info!(
                target: REQUEST_TARGET,
                request_id = "id-1",
                method = "GET",
                route = "/api/tasks/{id}",
                status = 404u16,
                latency_ms = 1.25,
                user_id = Some("u\"1\\\n\u{1}ü"),
                trace_id = None::<&str>,
                "request"
            );
        });
        let v = &lines[0];
        assert_eq!(v["message"], "request");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], REQUEST_TARGET);
        assert_eq!(v["request_id"], "id-1");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["route"], "/api/tasks/{id}");
        assert_eq!(v["status"], 404);
        assert_eq!(v["latency_ms"], 1.25);
        assert_eq!(v["user_id"], "u\"1\\\n\u{1}ü");
        assert!(v.get("trace_id").is_none(), "{v}");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn escaped_text_reads_back_as_the_same_string() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        for text in [
            "",
            "plain",
            "\"\\\"",
            controls.as_str(),
            "ü\"ß\n€\t😀\u{7f}end",
            "\u{1f}x\u{1}",
        ] {
            let mut out = String::from('"');
            escape(&mut out, text).unwrap();
            out.push('"');
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, text, "{out}");
        }
    }

    #[test]
    fn other_lines_keep_the_json_formatter() {
        let lines = json_lines(|| tracing::warn!(target: "strata::other", n = 3, "hello"));
        assert_eq!(lines[0]["message"], "hello");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["n"], 3);
    }

    #[test]
    fn a_line_inside_a_span_carries_the_span_fields_as_an_object() {
        let lines = json_lines(|| {
            let span = tracing::info_span!(
                "request",
                request_id = "r\"1",
                n = 2u64,
                user_id = tracing::field::Empty,
                late = tracing::field::Empty
            );
            span.record("user_id", "u-1");
            let _in = span.enter();
            tracing::info!(target: "strata::other", "inside");
            drop(_in);
            let bare = tracing::info_span!(
                "bare",
                nothing = tracing::field::Empty,
                first = tracing::field::Empty
            );
            bare.record("nothing", None::<&str>);
            bare.record("nothing", tracing::field::Empty);
            bare.record("first", true);
            let _in = bare.enter();
            tracing::info!(target: "strata::other", "inside bare");
            drop(_in);
            let odd = tracing::info_span!("odd", "a\"b\\c" = 1u64);
            let _in = odd.enter();
            tracing::info!(target: "strata::other", "inside odd");
        });
        let span = &lines[0]["span"];
        assert_eq!(span["name"], "request", "{}", lines[0]);
        assert_eq!(span["request_id"], "r\"1");
        assert_eq!(span["n"], 2);
        assert_eq!(span["user_id"], "u-1");
        assert!(span.get("late").is_none(), "{span}");
        assert_eq!(lines[1]["span"]["first"], true, "{}", lines[1]);
        assert!(lines[1]["span"].get("nothing").is_none(), "{}", lines[1]);
        assert_eq!(lines[2]["span"]["a\"b\\c"], 1, "{}", lines[2]);
    }
}

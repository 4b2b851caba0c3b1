//! Log output: human-readable text by default, JSON lines for log collectors; and, when
//! an OTLP endpoint is set, OpenTelemetry traces of hookline's own spans.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, span fields included, for log collectors.
    Json,
}

/// Installs the global subscriber; `RUST_LOG` filters (default `info`). Logs go to stderr.
pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_env_filter(log_filter()).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}

/// As [`init`], and every span of hookline's crates (not their log events, and no
/// library's spans) also goes to `provider` as an OpenTelemetry span. `RUST_LOG` filters
/// the logs only: a quieter log keeps every span.
pub fn init_with_traces(format: LogFormat, provider: &SdkTracerProvider) {
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).boxed(),
    };
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("hookline"))
        .with_threads(false)
        .with_filter(filter_fn(exported));
    tracing_subscriber::registry().with(logs.with_filter(log_filter())).with(spans).init();
}

fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The spans exported: hookline's own at `info` (the level its pipeline spans have).
fn exported(metadata: &Metadata<'_>) -> bool {
    metadata.is_span()
        && *metadata.level() <= Level::INFO
        && metadata.target().starts_with(hookline_traces::TARGET_PREFIX)
}

//! OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when an endpoint is set:
//! the standard `OTEL_*` variables, checked at start-up, and the exporter they make.
//! Without an endpoint nothing is built, nothing connects anywhere, and the log
//! subscriber is the one hookline has without traces (see [`crate::telemetry`]).

use std::time::Duration;

use async_trait::async_trait;
use clap::{Args, ValueEnum};
use hookline_domain::Secret;
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::config::{heading, key_text};

/// The path OTLP/HTTP collectors take traces on, below `OTEL_EXPORTER_OTLP_ENDPOINT`.
const TRACES_PATH: &str = "/v1/traces";
/// Most bytes of a collector's answer read (it says only whether it took the spans).
const ANSWER_CAP: usize = 64 * 1024;
/// How long one export may take, connecting included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args, Clone, Debug)]
pub struct TraceSettings {
    /// Base URL of an OpenTelemetry collector's OTLP/HTTP endpoint (e.g.
    /// `http://127.0.0.1:4318`); spans are POSTed as protobuf to `<url>/v1/traces`.
    /// Unset, with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT unset too: no traces are made or
    /// sent and nothing connects anywhere (a producer's `traceparent` still reaches the
    /// receiver). See docs/tracing.md.
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", help_heading = heading::TRACES)]
    pub endpoint: Option<String>,

    /// The full URL spans are POSTed to, used as given (no `/v1/traces` added); wins
    /// over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long = "otlp-traces-endpoint", env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", help_heading = heading::TRACES)]
    pub traces_endpoint: Option<String>,

    /// How spans are sent: `http/protobuf` is the only protocol hookline speaks (OTLP
    /// over gRPC is refused at start-up rather than sent where no one listens).
    #[arg(long = "otlp-protocol", env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = "http/protobuf", help_heading = heading::TRACES)]
    pub protocol: String,

    /// Headers sent with every export, as `name=value` pairs separated by commas (e.g.
    /// a collector's API key). Never logged.
    #[arg(long = "otlp-headers", env = "OTEL_EXPORTER_OTLP_HEADERS", hide_env_values = true, value_parser = key_text, help_heading = heading::TRACES)]
    pub headers: Option<Secret>,

    /// The `service.name` of every span.
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME", default_value = "hookline", help_heading = heading::TRACES)]
    pub service_name: String,

    /// Which traces are recorded. A trace is decided where it starts: a producer's
    /// `traceparent` carries its decision (the sampled flag), which the `parentbased_*`
    /// samplers follow; a trace hookline starts is decided by the part after
    /// `parentbased_`.
    #[arg(long = "otel-traces-sampler", env = "OTEL_TRACES_SAMPLER", value_enum, default_value_t = SamplerName::ParentbasedAlwaysOn, help_heading = heading::TRACES)]
    pub sampler: SamplerName,

    /// The share of traces the `traceidratio` samplers record, from 0 to 1.
    #[arg(long = "otel-traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG", default_value_t = 1.0, help_heading = heading::TRACES)]
    pub sampler_arg: f64,

    /// How long finished spans wait to be sent together, in milliseconds (at least 1).
    #[arg(long = "otel-bsp-schedule-delay", env = "OTEL_BSP_SCHEDULE_DELAY", default_value_t = 5_000, help_heading = heading::TRACES)]
    pub schedule_delay_ms: u64,

    /// Most finished spans held for export (at least 1): when the collector is slow or
    /// away, spans past this many are dropped rather than held in memory.
    #[arg(long = "otel-bsp-max-queue-size", env = "OTEL_BSP_MAX_QUEUE_SIZE", default_value_t = 2_048, help_heading = heading::TRACES)]
    pub max_queue_size: usize,
}

/// The samplers of the OpenTelemetry specification (`OTEL_TRACES_SAMPLER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerName {
    /// Record every trace.
    #[value(name = "always_on")]
    AlwaysOn,
    /// Record none.
    #[value(name = "always_off")]
    AlwaysOff,
    /// Record the share OTEL_TRACES_SAMPLER_ARG of traces, by trace id.
    #[value(name = "traceidratio")]
    TraceIdRatio,
    /// As the producer decided; every trace hookline starts.
    #[value(name = "parentbased_always_on")]
    ParentbasedAlwaysOn,
    /// As the producer decided; none that hookline starts.
    #[value(name = "parentbased_always_off")]
    ParentbasedAlwaysOff,
    /// As the producer decided; a share of those hookline starts.
    #[value(name = "parentbased_traceidratio")]
    ParentbasedTraceIdRatio,
}

/// Trace settings checked: where to send spans and how to choose them.
pub struct TraceExport {
    url: String,
    headers: Vec<(String, String)>,
    service_name: String,
    sampler: Sampler,
    schedule_delay: Duration,
    max_queue_size: usize,
}

impl TraceSettings {
    /// What to export, or `None` when no endpoint is set; every problem is added to `problems`.
    pub fn check(&self, problems: &mut Vec<String>) -> Option<TraceExport> {
        let given =
            |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let url = match (given(&self.traces_endpoint), given(&self.endpoint)) {
            (Some(url), _) => url,
            (None, Some(base)) => format!("{}{TRACES_PATH}", base.trim_end_matches('/')),
            (None, None) => return None,
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.parse::<http::Uri>().is_err() {
            problems.push(format!("the OTLP traces endpoint must be an http:// or https:// URL, got {url:?}"));
        }
        if self.protocol.trim() != "http/protobuf" {
            problems.push(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (the only protocol hookline exports with), got {:?}",
                self.protocol
            ));
        }
        let ratio = self.sampler_arg;
        if !(0.0..=1.0).contains(&ratio) {
            problems.push(format!("OTEL_TRACES_SAMPLER_ARG must be between 0 and 1, got {ratio}"));
        }
        let sampler = match self.sampler {
            SamplerName::AlwaysOn => Sampler::AlwaysOn,
            SamplerName::AlwaysOff => Sampler::AlwaysOff,
            SamplerName::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
            SamplerName::ParentbasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SamplerName::ParentbasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            SamplerName::ParentbasedTraceIdRatio => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))),
        };
        let headers = match &self.headers {
            None => Vec::new(),
            Some(headers) => export_headers(headers.expose()).unwrap_or_else(|problem| {
                problems.push(problem);
                Vec::new()
            }),
        };
        if self.schedule_delay_ms == 0 || self.max_queue_size == 0 {
            problems.push("OTEL_BSP_SCHEDULE_DELAY and OTEL_BSP_MAX_QUEUE_SIZE must be at least 1".into());
        }
        Some(TraceExport {
            url,
            headers,
            service_name: self.service_name.clone(),
            sampler,
            schedule_delay: Duration::from_millis(self.schedule_delay_ms),
            max_queue_size: self.max_queue_size.max(1),
        })
    }
}

/// `name=value,name=value` as pairs (values may be percent-encoded, as the
/// specification allows); the error never repeats a value.
fn export_headers(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (index, pair) in raw.split(',').map(str::trim).filter(|pair| !pair.is_empty()).enumerate() {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("OTEL_EXPORTER_OTLP_HEADERS entry {} is not name=value", index + 1));
        };
        let (name, value) = (name.trim(), percent_decoded(value.trim()));
        let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && value.as_deref().is_some_and(|value| http::HeaderValue::from_str(value).is_ok());
        match value {
            Some(value) if valid => headers.push((name.to_string(), value)),
            _ => return Err(format!("OTEL_EXPORTER_OTLP_HEADERS entry {} is not a valid header", index + 1)),
        }
    }
    Ok(headers)
}

fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl TraceExport {
    /// The tracer provider: spans batched on the SDK's own thread, each batch POSTed by
    /// `runtime`'s tasks through hookline's HTTP client stack.
    pub fn provider(self, runtime: tokio::runtime::Handle) -> anyhow::Result<SdkTracerProvider> {
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| anyhow::anyhow!("building the OTLP HTTP client: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OnRuntime { client, runtime })
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(self.url)
            .with_timeout(EXPORT_TIMEOUT)
            .with_headers(self.headers.into_iter().collect())
            .build()
            .map_err(|e| anyhow::anyhow!("building the OTLP exporter: {e}"))?;
        let batches = BatchConfigBuilder::default()
            .with_scheduled_delay(self.schedule_delay)
            .with_max_queue_size(self.max_queue_size)
            .with_max_export_batch_size(self.max_queue_size.min(512))
            .build();
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", self.service_name),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            ])
            .build();
        Ok(SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(batches).build())
            .with_sampler(self.sampler)
            .with_resource(resource)
            .build())
    }
}

/// The exporter's HTTP client: the SDK exports from a thread of its own, outside the
/// async runtime, so each request runs as a task of hookline's runtime and the export
/// waits for it.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let exchange = async move {
            let mut answer = client.execute(request).await?;
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                body.extend_from_slice(&chunk[..chunk.len().min(ANSWER_CAP - body.len())]);
                if body.len() >= ANSWER_CAP {
                    break;
                }
            }
            Ok::<_, HttpError>(response.body(Bytes::from(body))?)
        };
        self.runtime.spawn(exchange).await?
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        traces: TraceSettings,
    }

    fn checked(args: &[&str]) -> (Option<TraceExport>, Vec<String>) {
        let cli = Cli::try_parse_from(std::iter::once("hookline").chain(args.iter().copied())).expect("parses");
        let mut problems = Vec::new();
        (cli.traces.check(&mut problems), problems)
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        let (export, problems) = checked(&["--otel-traces-sampler", "always_on"]);
        assert!(export.is_none() && problems.is_empty());
        assert!(checked(&["--otlp-endpoint", " "]).0.is_none());
    }

    #[test]
    fn the_traces_endpoint_is_taken_as_given_and_the_base_gets_the_path() {
        let (export, _) = checked(&["--otlp-endpoint", "http://127.0.0.1:4318/"]);
        assert_eq!(export.unwrap().url, "http://127.0.0.1:4318/v1/traces");
        let (export, _) =
            checked(&["--otlp-endpoint", "http://a:4318", "--otlp-traces-endpoint", "https://b/custom/traces"]);
        assert_eq!(export.unwrap().url, "https://b/custom/traces");
    }

    #[test]
    fn bad_settings_are_all_listed() {
        let (_, problems) = checked(&[
            "--otlp-endpoint",
            "collector:4318",
            "--otlp-protocol",
            "grpc",
            "--otel-traces-sampler",
            "parentbased_traceidratio",
            "--otel-traces-sampler-arg",
            "1.5",
            "--otlp-headers",
            "api-key=s3cret,broken",
        ]);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(!problems.join(" ").contains("s3cret"));
        assert!(Cli::try_parse_from(["hookline", "--otel-traces-sampler", "sometimes"]).is_err());
    }

    #[test]
    fn export_headers_are_pairs_and_may_be_percent_encoded() {
        assert_eq!(
            export_headers("api-key=abc%20def, x-team = core").unwrap(),
            vec![("api-key".to_string(), "abc def".to_string()), ("x-team".to_string(), "core".to_string())]
        );
        assert!(export_headers("bad header=1").is_err());
        assert!(!format!("{:?}", Cli::try_parse_from(["h", "--otlp-headers", "k=s3cret"]).unwrap().traces)
            .contains("s3cret"));
    }
}

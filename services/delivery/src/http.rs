//! One HTTP POST to a receiver, and what came of it.
//!
//! One shared client for the whole role so connections are reused. Redirects are not
//! followed (a 3xx is a failure: following one would send the payload somewhere the
//! subscription never named), proxies from the environment are ignored, and the total
//! timeout covers connecting, sending and reading the capped response body (a receiver
//! that drips its body is cut there).
//!
//! Targets are guarded (see [`crate::guard`]): the URL is parsed and its host checked
//! before anything is sent (an IP literal is never looked up, so this is its only
//! check), and every name is resolved and checked when connecting. With an outbound
//! proxy, the proxy connects: the name is then resolved and checked before the request
//! is handed to the proxy, which resolves it again on its own.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hookline_domain::delivery_settings::OwnedHeaders;
use hookline_domain::limits::RESPONSE_BODY_CAP;
use hookline_domain::signature::standard_webhooks_signatures;
use hookline_domain::target::TargetPolicy;
use hookline_domain::trace::{TRACEPARENT_HEADER, TRACESTATE_HEADER};
use hookline_domain::{Secret, TraceContext};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use reqwest::Url;

use crate::config::DeliveryConfig;
use crate::error::DeliveryError;
use crate::guard::{checked_lookup, Blocked, GuardedResolver, HostResolver};
use crate::retry_after;

const USER_AGENT_VALUE: &str = concat!("hookline/", env!("CARGO_PKG_VERSION"));

/// One webhook to send.
#[derive(Clone, Debug)]
pub struct Outgoing<'a> {
    pub url: &'a str,
    /// Sent as `webhook-id` and signed: the same for every attempt of a task, and for
    /// every task of one event.
    pub webhook_id: String,
    /// Unix seconds of this attempt, sent as `webhook-timestamp` and signed.
    pub timestamp: i64,
    /// The raw payload, exactly as ingested.
    pub body: Bytes,
    pub event_type: Option<&'a str>,
    /// The secrets to sign with, the current one first (two during a rotation's
    /// grace); none: unsigned.
    pub secrets: Vec<&'a Secret>,
    /// Sent as `traceparent` and `tracestate`, when the delivery belongs to a trace.
    pub trace: Option<TraceContext>,
    /// The subscription's extra headers (values never printed).
    pub headers: &'a BTreeMap<String, Secret>,
    /// How long the whole attempt may take.
    pub timeout: Duration,
}

/// What the receiver did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status, when the receiver answered at all.
    pub status: Option<u16>,
    /// Why the attempt failed; `None` on a 2xx.
    pub error: Option<String>,
    /// The first [`RESPONSE_BODY_CAP`] bytes of the body, lossily decoded.
    pub body: Option<String>,
    pub latency: Duration,
    /// How long the receiver asked us to wait (`Retry-After` on a 429 or 503).
    pub retry_after: Option<Duration>,
    /// No answer came within the attempt's timeout.
    pub timed_out: bool,
}

impl Response {
    /// No request was made, or it got no answer.
    fn unanswered(error: String, started: Instant) -> Self {
        Response {
            status: None,
            error: Some(error),
            body: None,
            latency: started.elapsed(),
            retry_after: None,
            timed_out: false,
        }
    }
}

/// Sends webhooks.
pub struct Sender {
    client: reqwest::Client,
    event_type_header: HeaderName,
    /// Names the subscriptions' extra headers may not take.
    owned_headers: OwnedHeaders,
    connect_timeout: Duration,
    policy: Arc<TargetPolicy>,
    /// With an outbound proxy: the resolver that checks names before they go to the proxy.
    check_before_proxy: Option<Arc<dyn HostResolver>>,
}

impl Sender {
    pub fn new(config: &DeliveryConfig, resolver: Arc<dyn HostResolver>) -> Result<Self, DeliveryError> {
        let event_type_header = HeaderName::from_bytes(config.event_type_header.as_bytes()).map_err(|_| {
            DeliveryError::Config(vec![format!("bad event type header {:?}", config.event_type_header)])
        })?;
        let policy = Arc::new(config.target_policy.clone());
        // Connecting is part of the attempt, so it never gets longer than the whole (each
        // request sets its own timeout, at most the longest a subscription may ask for).
        let connect_timeout = config.connect_timeout.min(config.timeout);
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(config.timeout.max(config.max_timeout))
            .tcp_nodelay(true);
        let (builder, check_before_proxy) = match &config.outbound_proxy {
            Some(proxy) => {
                let proxy = reqwest::Proxy::all(proxy.url()).map_err(DeliveryError::HttpClient)?;
                (builder.proxy(proxy), Some(resolver))
            }
            None => (builder.no_proxy().dns_resolver(Arc::new(GuardedResolver::new(resolver, policy.clone()))), None),
        };
        let client = builder.build().map_err(DeliveryError::HttpClient)?;
        let owned_headers = OwnedHeaders::new(&config.secret_header, &config.event_type_header);
        Ok(Self { client, event_type_header, owned_headers, connect_timeout, policy, check_before_proxy })
    }

    /// POSTs the webhook and reads at most [`RESPONSE_BODY_CAP`] bytes of the answer.
    pub async fn send(&self, outgoing: Outgoing<'_>) -> Response {
        let started = Instant::now();
        let url = match self.checked_url(outgoing.url).await {
            Ok(url) => url,
            Err(error) => return Response::unanswered(error, started),
        };
        let timeout = outgoing.timeout;
        let request = self.client.post(url).headers(self.headers(&outgoing)).timeout(timeout).body(outgoing.body);
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let unanswered = Response::unanswered(self.describe(&e, timeout), started);
                return Response { timed_out: e.is_timeout() && !e.is_connect(), ..unanswered };
            }
        };
        let status = response.status().as_u16();
        let retry_after = retry_after::honoured_for(status)
            .then(|| response.headers().get(RETRY_AFTER)?.to_str().ok().map(str::to_string))
            .flatten()
            .and_then(|value| retry_after::parse(&value, SystemTime::now()));
        let body = read_capped(&mut response).await;
        let error = (!response.status().is_success()).then(|| format!("HTTP {status}"));
        Response {
            status: Some(status),
            error,
            body: Some(body),
            latency: started.elapsed(),
            retry_after,
            timed_out: false,
        }
    }

    /// The parsed URL, if the policy lets a request go to it; else why not.
    async fn checked_url(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw).map_err(|e| format!("invalid target url: {e}"))?;
        self.policy.check_url(&url).map_err(|refusal| Blocked::Refused(refusal).to_string())?;
        if let (Some(resolver), Some(url::Host::Domain(host))) = (&self.check_before_proxy, url.host()) {
            checked_lookup(resolver.as_ref(), &self.policy, host).await.map_err(|blocked| blocked.to_string())?;
        }
        Ok(url)
    }

    fn headers(&self, outgoing: &Outgoing<'_>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        // The subscription's own first, so that hookline's below win should one slip
        // through (they are refused when set, but the names owned follow the configuration).
        for (name, value) in outgoing.headers {
            if self.owned_headers.owns(name) {
                continue;
            }
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose())) {
                (Ok(name), Ok(mut value)) => {
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                _ => tracing::warn!(header = name.as_str(), "extra header cannot be sent, left out"),
            }
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if let Ok(id) = HeaderValue::from_str(&outgoing.webhook_id) {
            headers.insert("webhook-id", id);
        }
        headers.insert("webhook-timestamp", HeaderValue::from(outgoing.timestamp));
        if let Some(event_type) = outgoing.event_type {
            // from_bytes, not from_str: event types may be UTF-8, which HTTP carries as opaque bytes.
            match HeaderValue::from_bytes(event_type.as_bytes()) {
                Ok(value) => {
                    headers.insert(self.event_type_header.clone(), value);
                }
                Err(_) => tracing::warn!(event_type, "event type cannot be sent as a header value, left out"),
            }
        }
        if let Some(trace) = &outgoing.trace {
            // Both were checked when they were accepted (visible ASCII within bounds).
            if let Ok(value) = HeaderValue::from_str(&trace.traceparent) {
                headers.insert(TRACEPARENT_HEADER, value);
            }
            if let Some(Ok(value)) = trace.tracestate.as_deref().map(HeaderValue::from_str) {
                headers.insert(TRACESTATE_HEADER, value);
            }
        }
        if !outgoing.secrets.is_empty() {
            let secrets: Vec<&str> = outgoing.secrets.iter().map(|secret| secret.expose()).collect();
            let signature =
                standard_webhooks_signatures(&secrets, &outgoing.webhook_id, outgoing.timestamp, &outgoing.body);
            if let Ok(value) = HeaderValue::from_str(&signature) {
                headers.insert("webhook-signature", value);
            }
        }
        headers
    }

    /// A short, stable text for a failed request.
    fn describe(&self, error: &reqwest::Error, timeout: Duration) -> String {
        if let Some(blocked) = causes(error).find_map(|e| e.downcast_ref::<Blocked>()) {
            return blocked.to_string();
        }
        if error.is_builder() {
            return format!("invalid target url: {}", root_cause(error));
        }
        if error.is_timeout() {
            return if error.is_connect() {
                format!("connect timed out after {}", seconds(self.connect_timeout))
            } else {
                format!("timed out after {}", seconds(timeout))
            };
        }
        if let Some(kind) = io_error_kind(error) {
            match kind {
                io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                io::ErrorKind::ConnectionReset => return "connection reset".into(),
                io::ErrorKind::ConnectionAborted | io::ErrorKind::UnexpectedEof => {
                    return "connection closed before response".into()
                }
                _ => {}
            }
        }
        if closed_before_response(error) {
            return "connection closed before response".into();
        }
        if error.is_connect() {
            return format!("connection failed: {}", root_cause(error));
        }
        format!("request failed: {}", root_cause(error))
    }
}

/// Reads the body chunk by chunk and stops at the cap, so a huge or endless body
/// costs at most the cap in memory. A body that breaks off keeps what arrived.
async fn read_capped(response: &mut reqwest::Response) -> String {
    let mut kept: Vec<u8> = Vec::new();
    while kept.len() < RESPONSE_BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_BODY_CAP - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "response body broke off");
                break;
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn causes<'a>(error: &'a reqwest::Error) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |e| (*e).source())
}

fn io_error_kind(error: &reqwest::Error) -> Option<io::ErrorKind> {
    causes(error).find_map(|e| e.downcast_ref::<io::Error>()).map(io::Error::kind)
}

fn closed_before_response(error: &reqwest::Error) -> bool {
    causes(error).filter_map(|e| e.downcast_ref::<hyper::Error>()).any(hyper::Error::is_incomplete_message)
}

fn root_cause(error: &reqwest::Error) -> String {
    causes(error).last().map(|e| e.to_string()).unwrap_or_else(|| error.to_string())
}

/// `10s` for whole seconds, `1500ms` otherwise.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use hookline_domain::signature::verify_standard_webhooks;

    use super::*;

    static NO_HEADERS: BTreeMap<String, Secret> = BTreeMap::new();

    #[test]
    fn extra_headers_are_sent_but_never_over_hookline_s_own() {
        let extra: BTreeMap<String, Secret> = [
            ("X-Api-Key".to_string(), Secret::new("hunter2")),
            // Refused when set; a configuration renamed since must still not let it through.
            ("X-Event-Type".to_string(), Secret::new("forged")),
            ("Host".to_string(), Secret::new("elsewhere")),
        ]
        .into();
        let outgoing = Outgoing {
            url: "http://127.0.0.1:1/",
            webhook_id: "task-1".into(),
            timestamp: 1,
            body: Bytes::new(),
            event_type: Some("order.created"),
            secrets: Vec::new(),
            headers: &extra,
            timeout: Duration::from_secs(1),
            trace: None,
        };
        assert!(!format!("{outgoing:?}").contains("hunter2"), "header values never print");
        let headers = sender().headers(&outgoing);
        assert_eq!(headers["x-api-key"], "hunter2");
        assert!(headers["x-api-key"].is_sensitive());
        assert_eq!(headers["x-event-type"], "order.created");
        assert!(!headers.contains_key("host"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(Duration::from_secs(10)), "10s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1500ms");
    }

    fn sender() -> Sender {
        Sender::new(&DeliveryConfig::default(), Arc::new(crate::guard::SystemResolver)).unwrap()
    }

    #[test]
    fn headers_carry_identity_and_a_valid_signature() {
        let sender = sender();
        let body = Bytes::from_static(br#"{"b":1,"a":2}"#);
        let secret = Secret::new("s3cret");
        let outgoing = Outgoing {
            url: "http://127.0.0.1:1/",
            webhook_id: "task-1".into(),
            timestamp: 1_700_000_000,
            body: body.clone(),
            event_type: Some("order.créé"),
            secrets: vec![&secret],
            trace: None,
            headers: &NO_HEADERS,
            timeout: Duration::from_secs(1),
        };
        let headers = sender.headers(&outgoing);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["webhook-id"], "task-1");
        assert_eq!(headers["webhook-timestamp"], "1700000000");
        assert_eq!(headers["x-event-type"].as_bytes(), "order.créé".as_bytes());
        let signature = headers["webhook-signature"].to_str().unwrap();
        assert!(verify_standard_webhooks("s3cret", "task-1", 1_700_000_000, &body, signature));
    }

    #[test]
    fn during_a_rotation_both_secrets_sign() {
        let body = Bytes::from_static(b"{}");
        let (new, old) = (Secret::new("new-secret"), Secret::new("old-secret"));
        let outgoing = Outgoing {
            url: "http://127.0.0.1:1/",
            webhook_id: "task-1".into(),
            timestamp: 1_700_000_000,
            body: body.clone(),
            event_type: None,
            secrets: vec![&new, &old],
            trace: None,
            headers: &NO_HEADERS,
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{outgoing:?}").contains("new-secret"), "secrets never print");
        let headers = sender().headers(&outgoing);
        let signature = headers["webhook-signature"].to_str().unwrap();
        assert_eq!(signature.split(' ').count(), 2);
        for secret in ["new-secret", "old-secret"] {
            assert!(verify_standard_webhooks(secret, "task-1", 1_700_000_000, &body, signature), "{secret}");
        }
    }

    #[test]
    fn no_secret_no_signature() {
        let sender = sender();
        let outgoing = Outgoing {
            url: "http://127.0.0.1:1/",
            webhook_id: "task-1".into(),
            timestamp: 1,
            body: Bytes::new(),
            event_type: None,
            secrets: Vec::new(),
            trace: None,
            headers: &NO_HEADERS,
            timeout: Duration::from_secs(1),
        };
        let headers = sender.headers(&outgoing);
        assert!(!headers.contains_key("webhook-signature"));
        assert!(!headers.contains_key("x-event-type"));
        assert!(!headers.contains_key("traceparent"));
    }

    #[test]
    fn a_trace_is_sent_as_w3c_headers() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let outgoing = Outgoing {
            url: "http://127.0.0.1:1/",
            webhook_id: "task-1".into(),
            timestamp: 1,
            body: Bytes::new(),
            event_type: None,
            secrets: Vec::new(),
            trace: TraceContext::from_headers(Some(traceparent.as_bytes()), Some(b"vendor=abc")),
            headers: &NO_HEADERS,
            timeout: Duration::from_secs(1),
        };
        let headers = sender().headers(&outgoing);
        assert_eq!(headers["traceparent"], traceparent);
        assert_eq!(headers["tracestate"], "vendor=abc");
    }
}

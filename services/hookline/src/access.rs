//! Who may use the API and how much: tokens, rate limits and request header limits.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::{ArgAction, Args};
use hookline_api::{ApiTokens, HeaderLimits, Rate, RateLimits, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
use hookline_ingest::DEFAULT_TIMESTAMP_TOLERANCE;

use crate::config::heading;

#[derive(Args, Clone)]
pub struct AccessSettings {
    /// Operator tokens the API asks for in `Authorization: Bearer <token>`,
    /// comma-separated; each the token itself (16 characters at least) or
    /// `sha256:<hex digest of the token>`, so that the plain token need not sit in the
    /// configuration. None: the API is open (and hookline warns at start-up when it
    /// listens beyond loopback).
    #[arg(long, env = "HOOKLINE_API_TOKENS", value_delimiter = ',', hide_env_values = true, help_heading = heading::ACCESS)]
    pub api_tokens: Vec<String>,

    /// Whether ingest needs a token too, `true` or `false` (a signature is checked
    /// against the subscription's secret either way). Needs HOOKLINE_API_TOKENS.
    #[arg(long, env = "HOOKLINE_INGEST_REQUIRES_TOKEN", action = ArgAction::Set, default_value_t = false, help_heading = heading::ACCESS)]
    pub ingest_requires_token: bool,

    /// How far from now the timestamp of a webhook signed the Standard Webhooks way
    /// (`webhook-timestamp`) may be, in seconds (at least 1): further ones are refused
    /// (401), so that a captured request cannot be replayed later.
    #[arg(long, env = "HOOKLINE_INGEST_TIMESTAMP_TOLERANCE_SECONDS", default_value_t = DEFAULT_TIMESTAMP_TOLERANCE.as_secs(), help_heading = heading::ACCESS)]
    pub ingest_timestamp_tolerance_seconds: u64,

    /// Requests per second the whole API accepts, per process (0: no limit); over it, 429
    /// with `Retry-After`. Only authenticated requests spend it.
    #[arg(long, env = "HOOKLINE_RATE_LIMIT", default_value_t = 0, help_heading = heading::ACCESS)]
    pub rate_limit: u32,

    /// Requests the API accepts at once after a quiet spell (0: one second's worth).
    #[arg(long, env = "HOOKLINE_RATE_LIMIT_BURST", default_value_t = 0, help_heading = heading::ACCESS)]
    pub rate_limit_burst: u32,

    /// Webhooks per second one subscription may ingest over REST, per process (0: no
    /// limit); over it, 429 with `Retry-After`. Only webhooks whose signature checked
    /// out spend it.
    #[arg(long, env = "HOOKLINE_INGEST_RATE_LIMIT", default_value_t = 0, help_heading = heading::ACCESS)]
    pub ingest_rate_limit: u32,

    /// Webhooks one subscription may ingest at once after a quiet spell (0: one second's worth).
    #[arg(long, env = "HOOKLINE_INGEST_RATE_LIMIT_BURST", default_value_t = 0, help_heading = heading::ACCESS)]
    pub ingest_rate_limit_burst: u32,

    /// Most headers a request may carry (at least 1; 431 above).
    #[arg(long, env = "HOOKLINE_MAX_REQUEST_HEADERS", default_value_t = HeaderLimits::default().max_count, help_heading = heading::ACCESS)]
    pub max_request_headers: usize,

    /// Most bytes a request's headers may take, names and values together (at least 1;
    /// 431 above).
    #[arg(long, env = "HOOKLINE_MAX_REQUEST_HEADER_BYTES", default_value_t = HeaderLimits::default().max_bytes, help_heading = heading::ACCESS)]
    pub max_request_header_bytes: usize,

    /// Connections the API serves at once (at least 1); later ones wait in the listen
    /// backlog until one closes.
    #[arg(long, env = "HOOKLINE_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, help_heading = heading::ACCESS)]
    pub max_connections: usize,

    /// Seconds a request body may take to arrive, whole (at least 1): after it, 408 and
    /// the connection is closed.
    #[arg(long, env = "HOOKLINE_BODY_READ_TIMEOUT_SECONDS", default_value_t = DEFAULT_BODY_READ_TIMEOUT.as_secs(), help_heading = heading::ACCESS)]
    pub body_read_timeout_seconds: u64,
}

impl fmt::Debug for AccessSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessSettings")
            .field("api_tokens", &format_args!("{} configured", self.api_tokens.len()))
            .field("ingest_requires_token", &self.ingest_requires_token)
            .field("rate_limit", &self.rate_limit)
            .field("ingest_rate_limit", &self.ingest_rate_limit)
            .finish_non_exhaustive()
    }
}

/// The access settings, checked.
#[derive(Clone, Debug)]
pub struct Access {
    pub tokens: ApiTokens,
    pub ingest_requires_token: bool,
    pub timestamp_tolerance: Duration,
    pub rate_limits: RateLimits,
    pub header_limits: HeaderLimits,
    pub max_connections: usize,
    pub body_read_timeout: Duration,
}

impl AccessSettings {
    pub fn check(&self, problems: &mut Vec<String>) -> Access {
        let entries: Vec<&str> = self.api_tokens.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
        let tokens = ApiTokens::parse(&entries).unwrap_or_else(|e| {
            problems.push(format!("HOOKLINE_API_TOKENS: {e}"));
            ApiTokens::default()
        });
        if self.ingest_requires_token && tokens.is_empty() {
            problems.push("HOOKLINE_INGEST_REQUIRES_TOKEN needs HOOKLINE_API_TOKENS".into());
        }
        if self.ingest_timestamp_tolerance_seconds == 0 {
            problems.push("HOOKLINE_INGEST_TIMESTAMP_TOLERANCE_SECONDS must be at least 1".into());
        }
        if self.max_request_headers == 0 || self.max_request_header_bytes == 0 {
            problems
                .push("HOOKLINE_MAX_REQUEST_HEADERS and HOOKLINE_MAX_REQUEST_HEADER_BYTES must be at least 1".into());
        }
        if self.max_connections == 0 {
            problems.push("HOOKLINE_MAX_CONNECTIONS must be at least 1".into());
        }
        if self.body_read_timeout_seconds == 0 {
            problems.push("HOOKLINE_BODY_READ_TIMEOUT_SECONDS must be at least 1".into());
        }
        Access {
            max_connections: self.max_connections,
            body_read_timeout: Duration::from_secs(self.body_read_timeout_seconds),
            tokens,
            ingest_requires_token: self.ingest_requires_token,
            timestamp_tolerance: Duration::from_secs(self.ingest_timestamp_tolerance_seconds),
            rate_limits: RateLimits {
                api: rate(self.rate_limit, self.rate_limit_burst),
                ingest_per_subscription: rate(self.ingest_rate_limit, self.ingest_rate_limit_burst),
            },
            header_limits: HeaderLimits {
                max_count: self.max_request_headers,
                max_bytes: self.max_request_header_bytes,
            },
        }
    }
}

fn rate(per_second: u32, burst: u32) -> Option<Rate> {
    let per_second = NonZeroU32::new(per_second)?;
    Some(Rate { per_second, burst: NonZeroU32::new(burst).unwrap_or(per_second) })
}

/// Warns when the API is open to anyone who can reach a non-loopback address.
pub fn warn_if_exposed(access: &Access, listen: SocketAddr) {
    if access.tokens.is_empty() && !listen.ip().is_loopback() {
        tracing::warn!(
            %listen,
            "THE API IS OPEN: no HOOKLINE_API_TOKENS are set and it listens beyond loopback; \
             anyone who can reach it can manage subscriptions"
        );
        eprintln!(
            "WARNING: the API on {listen} is open to anyone who can reach it (set HOOKLINE_API_TOKENS to require tokens)"
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        access: AccessSettings,
    }

    fn check(args: &[&str]) -> Result<Access, Vec<String>> {
        let cli = Cli::try_parse_from(std::iter::once("hookline").chain(args.iter().copied())).expect("parses");
        let mut problems = Vec::new();
        let access = cli.access.check(&mut problems);
        if problems.is_empty() {
            Ok(access)
        } else {
            Err(problems)
        }
    }

    #[test]
    fn everything_is_off_by_default() {
        let access = check(&[]).unwrap();
        assert!(access.tokens.is_empty());
        assert_eq!(access.rate_limits, RateLimits::default());
        assert_eq!(access.header_limits, HeaderLimits::default());
    }

    #[test]
    fn limits_and_tokens_are_read_and_checked() {
        let access = check(&["--api-tokens", "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb", "--rate-limit", "100"]).unwrap();
        assert!(!access.tokens.is_empty());
        let api = access.rate_limits.api.unwrap();
        assert_eq!((api.per_second.get(), api.burst.get()), (100, 100));
        assert!(access.rate_limits.ingest_per_subscription.is_none());
        assert!(check(&["--api-tokens", "short"]).unwrap_err()[0].contains("shorter than 16"));
        assert!(check(&["--ingest-requires-token", "true"]).is_err());
    }

    #[test]
    fn debug_output_hides_the_tokens() {
        let cli = Cli::try_parse_from(["hookline", "--api-tokens", "do-not-print-me-please"]).unwrap();
        assert!(!format!("{:?}", cli.access).contains("do-not-print"));
    }
}

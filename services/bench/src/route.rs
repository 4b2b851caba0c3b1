//! Where the webhooks of a run go, and how many deliveries each accepted one makes: one
//! subscription by id (`POST /api/ingest/{id}`), or, with `--fan-out N`, events sent to
//! the default tenant (`POST /api/v1/events`) that N subscriptions want, beside
//! `--bystanders` subscriptions of the same tenant that want other event types.

use anyhow::Context;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::args::Args;
use crate::stack::Stack;

/// The event type the fan-out runs send, and the pattern their subscriptions want.
const EVENT_TYPE: &str = "bench.order";
const WANTED: &str = "bench.*";
/// Subscriptions created at once when a run needs many.
const CREATING_AT_ONCE: usize = 16;

#[derive(Clone, Debug)]
pub struct Route {
    pub path: String,
    /// The `x-event-type` header to send, if any.
    pub event_type: Option<&'static str>,
    /// Deliveries each accepted request makes.
    pub fan_out: u64,
    /// How many ordering keys the requests go round, if they carry one.
    pub ordering_keys: Option<usize>,
}

impl Route {
    /// Creates the subscriptions a run of `args` sends to, and says where to send.
    pub async fn prepare(args: &Args, stack: &Stack) -> anyhow::Result<Route> {
        let ordering_keys = args.ordering_keys;
        let ordered = ordering_keys.is_some();
        let Some(fan_out) = args.fan_out else {
            let id = stack.create_subscription("/bench", None, None, ordered).await?;
            return Ok(Route { path: format!("/api/ingest/{id}"), event_type: None, fan_out: 1, ordering_keys });
        };
        // Each wanting subscription has its own path, so the receiver counts its deliveries apart.
        let wanting = (0..fan_out).map(|n| (format!("/bench/{n}"), WANTED.to_string()));
        let bystanders = (0..args.bystanders).map(|n| ("/bystander".to_string(), format!("other{n}.*")));
        let created: Vec<String> = stream::iter(wanting.chain(bystanders))
            .map(|(path, pattern)| async move { stack.create_subscription(&path, None, Some(&pattern), ordered).await })
            .buffer_unordered(CREATING_AT_ONCE)
            .try_collect()
            .await
            .context("creating the fan-out's subscriptions")?;
        eprintln!("bench: {} subscriptions created, {fan_out} of them wanting {EVENT_TYPE}", created.len());
        Ok(Route {
            path: "/api/v1/events".into(),
            event_type: Some(EVENT_TYPE),
            fan_out: fan_out as u64,
            ordering_keys,
        })
    }
}

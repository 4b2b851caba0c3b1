//! One polled batch of `hookline.operational`: every decision turned into an event of
//! its tenant in `hookline.fanout`, which the fan-out and delivery roles then send like
//! any webhook (`webhook-id` = the decision's event id, signed, retried, logged).
//!
//! Who gets it: the tenant's enabled subscriptions whose patterns name it (a pattern
//! starting with `hookline.`, see `hookline_domain::event_types::may_match`), and the
//! operator's subscription when it is enabled; never the subscription a disabling is
//! about. A decision that a subscription change made is sent only once the change is
//! known applied (or its verdict is not known in time: better told twice than not at
//! all); a change the log refused made no decision.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hookline_domain::operational::operator_subscription_id;
use hookline_domain::{EventAccepted, OperationalData, OperationalEvent, SubscriptionId, TenantId};
use hookline_log::consume::next_offsets;
use hookline_log::{LogError, Record, TopicPartition};
use hookline_lookup::{SubscriptionDirectory, Verdict};
use hookline_quarantine::{Output, Reason, SetAside};
use hookline_records::{decided_by, event_accepted_record};
use hookline_routing::Directory;
use serde_json::value::to_raw_value;
use tokio_util::sync::CancellationToken;

use crate::metrics::OperationalMetrics;

pub(crate) struct Notifier {
    pub routing: Arc<Directory>,
    pub directory: Arc<SubscriptionDirectory>,
    pub set_aside: SetAside,
    pub metrics: OperationalMetrics,
    /// How long to wait for the views' verdict on the change that made a decision.
    pub verdict_patience: Duration,
}

impl Notifier {
    /// Turns the decisions of `records` into events and appends them durably. Returns
    /// the offsets to commit (past every record), or nothing on shutdown first.
    pub async fn notify(
        &self,
        records: &[Record],
        shutdown: &CancellationToken,
    ) -> Result<Vec<(TopicPartition, u64)>, LogError> {
        let mut outputs = Vec::with_capacity(records.len());
        let mut types = Vec::with_capacity(records.len());
        // Once the views kept one verdict waiting past the patience (the projector is
        // behind or down), the rest of the batch asks once each rather than waiting again.
        let mut patience = self.verdict_patience;
        for record in records {
            let event = match serde_json::from_slice::<OperationalEvent>(&record.value) {
                Ok(event) => event,
                Err(error) => {
                    let message = format!("not an OperationalEvent: {error}");
                    if self.set_aside.set_aside(record, Reason::Undecodable, &message, None, shutdown).await?.is_none()
                    {
                        return Ok(Vec::new());
                    }
                    continue;
                }
            };
            let span = tracing::info_span!(
                "operational_event",
                event_id = %event.event_id,
                tenant_id = %event.tenant_id,
                event_type = event.event_type(),
                subscription_id = event.data.subscription_id().map(|id| id.to_string()),
            );
            let _in_span = span.enter();
            if !self.was_decided(record, &event, &mut patience).await {
                self.metrics.overtaken();
                tracing::debug!("the change that made this decision was refused: not sent");
                continue;
            }
            let subscriptions = self.recipients(&event);
            if subscriptions.is_empty() {
                // Nobody asked for it: the record on the topic is all there is to keep.
                tracing::debug!("operational event with no subscription to send it to");
                continue;
            }
            tracing::info!(subscriptions = subscriptions.len(), "operational event sent to its subscriptions");
            // The body is the event as recorded: the same JSON the Kafka record holds.
            let payload = to_raw_value(&event).expect("operational events always serialize");
            let accepted = EventAccepted {
                event_id: event.event_id,
                tenant_id: event.tenant_id.clone(),
                event_type: event.event_type().to_string(),
                // The decision's time, not the reading's: reading it again makes the same event.
                accepted_at: event.timestamp,
                idempotency_key: None,
                ordering_key: None,
                subscriptions,
                payload,
                // A decision comes from no producer's request: its deliveries start their own traces.
                trace: None,
            };
            outputs.push(Output { record: event_accepted_record(&accepted), origin: record });
            types.push(event.event_type());
        }
        if !outputs.is_empty() && self.set_aside.append(outputs, shutdown).await?.is_none() {
            return Ok(Vec::new());
        }
        types.into_iter().for_each(|event_type| self.metrics.notified(event_type));
        Ok(next_offsets(records))
    }

    /// Whether the decision stands: one a subscription change made stands once the log
    /// applied that change. An unknown verdict ends the `patience` of the batch.
    async fn was_decided(&self, record: &Record, event: &OperationalEvent, patience: &mut Duration) -> bool {
        let (Some((version, write_id)), Some(subscription)) = (decided_by(record), event.data.subscription_id()) else {
            return true;
        };
        match self.directory.verdict(subscription, version, write_id, *patience).await {
            Ok(Verdict::Refused) => false,
            Ok(Verdict::Applied) => true,
            Ok(Verdict::Unknown) => {
                *patience = Duration::ZERO;
                tracing::warn!("the views did not say in time whether the change was applied: sent all the same");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "the views could not say whether the change was applied: sent all the same");
                true
            }
        }
    }

    /// The subscriptions a decision goes to, in id order.
    fn recipients(&self, event: &OperationalEvent) -> Vec<SubscriptionId> {
        let event_type = event.event_type();
        let mut recipients: BTreeSet<SubscriptionId> =
            self.routing.matching(&event.tenant_id, event_type).into_iter().collect();
        // The operator's subscription, in the default tenant, gets every tenant's decisions
        // while it is enabled and its patterns name them (they always do: `hookline.*`).
        let operator = operator_subscription_id();
        if self.routing.matching(&TenantId::default(), event_type).contains(&operator) {
            recipients.insert(operator);
        }
        // A subscription just disabled is not told about itself (it would not be attempted).
        if let OperationalData::SubscriptionDisabled { subscription_id, .. } = &event.data {
            recipients.remove(subscription_id);
        }
        recipients.into_iter().collect()
    }
}

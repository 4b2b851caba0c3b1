//! The event-type filter of a subscription.
//!
//! As in the seed service, a filter is an exact event type. A filter may also list
//! several types separated by commas (`order.created,order.paid`). A subscription
//! with a filter skips events that carry no event type at all.

/// Whether an event of `event_type` passes `filter`.
pub fn passes(filter: Option<&str>, event_type: Option<&str>) -> bool {
    let Some(filter) = filter else { return true };
    let Some(event_type) = event_type else { return false };
    filter.split(',').map(str::trim).any(|wanted| wanted == event_type)
}

#[cfg(test)]
mod tests {
    use super::passes;

    #[test]
    fn no_filter_passes_everything() {
        assert!(passes(None, None));
        assert!(passes(None, Some("x")));
    }

    #[test]
    fn filter_matches_exactly() {
        assert!(passes(Some("order.created"), Some("order.created")));
        assert!(!passes(Some("order.created"), Some("order.created.v2")));
        assert!(!passes(Some("order.created"), Some("Order.Created")));
        assert!(!passes(Some("order.created"), None));
    }

    #[test]
    fn filter_lists_alternatives() {
        assert!(passes(Some("a, b"), Some("b")));
        assert!(!passes(Some("a,b"), Some("c")));
    }
}

//! The events of the log, decoded from arbitrary JSON: whatever decodes serializes,
//! and what it serializes to decodes to an equal value and serializes to the same text.

use std::fmt::Debug;

use hookline_domain::{
    AttemptRecorded, RetryScheduled, Subscription, SubscriptionEvent, TaskAccepted, TaskDeadLettered, TaskView,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Input: a record value. Decoded as every kind of event the log carries.
pub fn decode_every_kind(data: &[u8]) {
    round_trip_eq::<SubscriptionEvent>(data);
    round_trip_eq::<Subscription>(data);
    round_trip_eq::<AttemptRecorded>(data);
    round_trip_eq::<TaskView>(data);
    // These carry the payload as raw JSON text, compared as the text it serializes to.
    round_trip::<TaskAccepted>(data);
    round_trip::<RetryScheduled>(data);
    round_trip::<TaskDeadLettered>(data);
}

/// Decodes `data` as a `T`; if it is one, checks that it round-trips to the same text.
/// Returns the decoded value and its text.
pub fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) -> Option<(T, Vec<u8>)> {
    let value = serde_json::from_slice::<T>(data).ok()?;
    let text = serialize(&value);
    let again = serde_json::from_slice::<T>(&text).unwrap_or_else(|e| {
        panic!("{}: {} does not decode again: {e}", type_name::<T>(), String::from_utf8_lossy(&text))
    });
    assert_eq!(
        String::from_utf8_lossy(&serialize(&again)),
        String::from_utf8_lossy(&text),
        "{}: text changed on a round trip",
        type_name::<T>()
    );
    Some((again, text))
}

/// [`round_trip`], and the value decoded again equals the first one.
fn round_trip_eq<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    if let Ok(first) = serde_json::from_slice::<T>(data) {
        let (again, _) = round_trip::<T>(data).expect("decoded once, decodes again");
        assert_eq!(again, first, "{}: value changed on a round trip", type_name::<T>());
    }
}

/// The JSON text of an event; every event serializes (plain fields, raw JSON payloads).
pub fn serialize<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| panic!("{}: does not serialize: {e}", type_name::<T>()))
}

fn type_name<T>() -> &'static str {
    std::any::type_name::<T>().rsplit("::").next().unwrap_or_default()
}

//! Fuzz targets for every parser that faces untrusted bytes: the ingest signature
//! header and the Standard Webhooks verifier, the target URL guard and its allowlist,
//! the records of `hookline.ingest`, the events of the log, and the records the
//! delivery role and the projector decode.
//!
//! Consumes: arbitrary bytes. Produces: nothing. Guarantees: each target returns for
//! every input, or panics naming the invariant that broke. The same functions are run
//! by cargo-fuzz (`fuzz/` at the repository root, `scripts/fuzz.sh`) and, on every
//! `cargo test`, over the kept corpus and random inputs (`tests/replay.rs`).

pub mod envelope;
pub mod events;
pub mod input;
pub mod records;
pub mod signature;
pub mod target_url;

/// One fuzz target: the name of its cargo-fuzz target and corpus folder, and the function.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, by the name of its folder under `fuzz/corpus/`.
pub const TARGETS: &[Target] = &[
    Target { name: "ingest_signature", run: signature::ingest_header },
    Target { name: "standard_webhooks_signature", run: signature::standard_webhooks },
    Target { name: "target_url", run: target_url::validate },
    Target { name: "target_allowlist", run: target_url::allowlist },
    Target { name: "ingest_envelope", run: envelope::ingest_record },
    Target { name: "event_json", run: events::decode_every_kind },
    Target { name: "delivery_record", run: records::delivery_record },
    Target { name: "projector_record", run: records::projector_record },
];

//! Black-box tests of the delivery role: a real embedded log and views in a temporary
//! directory, and a real HTTP receiver on 127.0.0.1 that can fail, hang or misbehave.

mod harness;

mod attempts;
mod disabling;
mod etiquette;
mod events;
mod isolation;
mod metrics;
mod poison;
mod restart;
mod retries;
mod safe_targets;

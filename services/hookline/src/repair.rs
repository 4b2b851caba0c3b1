//! `hookline repair-log`: moves the damaged parts of the embedded log aside, so that
//! the service starts again, and says what was lost.

use anyhow::{bail, Context};
use hookline_log::embedded::{repair, DAMAGED_DIR};

use crate::config::Settings;

pub async fn repair_log(settings: Settings) -> anyhow::Result<()> {
    if settings.kafka_brokers().is_some() {
        bail!("repair-log repairs the embedded log; a Kafka cluster repairs its own (KAFKA_BROKERS is set)");
    }
    let dir = settings.data_dir.join("log");
    if !dir.join("topics").is_dir() {
        bail!("no embedded log in {}", dir.display());
    }
    let target = dir.clone();
    let repaired = tokio::task::spawn_blocking(move || repair(&target))
        .await
        .context("the repair task failed")?
        .with_context(|| format!("repairing the log in {} (is hookline still running?)", dir.display()))?;
    if repaired.is_empty() {
        println!("the log in {} is sound: nothing to repair", dir.display());
        return Ok(());
    }
    let mut lost = 0;
    for part in &repaired {
        lost += part.records_lost;
        println!(
            "{}/{}: {} damaged at byte {} ({}): {} records lost from offset {}; {} bytes moved to {}",
            part.topic,
            part.partition,
            part.segment.display(),
            part.position,
            part.reason,
            part.records_lost,
            part.first_lost_offset,
            part.moved_bytes,
            part.moved_to.display(),
        );
    }
    println!(
        "repaired {} damaged segment(s): {lost} records lost in all; the damaged bytes are kept in {}",
        repaired.len(),
        dir.join(DAMAGED_DIR).display()
    );
    Ok(())
}

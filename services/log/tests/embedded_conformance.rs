//! The EventLog conformance suite against the embedded adapter, one test per case, each
//! on a fresh log in its own temporary directory.

use std::sync::Arc;

use hookline_log::conformance;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::EventLog;
use tempfile::TempDir;

fn fresh_log() -> (TempDir, Arc<dyn EventLog>) {
    let dir = TempDir::new().expect("temporary directory");
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open embedded log");
    (dir, log)
}

macro_rules! conformance_case {
    ($case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let (_dir, log) = fresh_log();
            conformance::$case(log).await;
        }
    };
}

conformance_case!(round_trip);
conformance_case!(read_by_position);
conformance_case!(same_key_same_partition_in_order);
conformance_case!(one_append_keeps_order);
conformance_case!(concurrent_appends_are_all_readable);
conformance_case!(group_resumes_after_commit);
conformance_case!(earliest_and_latest);
conformance_case!(no_group_reads_without_commits);
conformance_case!(groups_are_independent);
conformance_case!(committed_offsets_are_readable);
conformance_case!(pause_stops_one_partition);
conformance_case!(poll_times_out_and_wakes_on_append);
conformance_case!(cancelled_poll_loses_nothing);
conformance_case!(topic_management);
conformance_case!(end_offsets);

/// Every case on one log, as they will share one broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_cases_share_one_log() {
    let (_dir, log) = fresh_log();
    conformance::run_all(log).await;
}

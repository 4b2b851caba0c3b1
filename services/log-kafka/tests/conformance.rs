//! The shared `EventLog` conformance suite against a real Kafka broker (`KAFKA_BROKERS`).

mod support;

use hookline_log::conformance;

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(brokers) = support::brokers() else { return };
                conformance::$case(support::connect(&brokers).await).await;
            }
        )*
    };
}

conformance_cases!(
    round_trip,
    read_by_position,
    same_key_same_partition_in_order,
    one_append_keeps_order,
    concurrent_appends_are_all_readable,
    group_resumes_after_commit,
    earliest_and_latest,
    no_group_reads_without_commits,
    groups_are_independent,
    committed_offsets_are_readable,
    pause_stops_one_partition,
    poll_times_out_and_wakes_on_append,
    cancelled_poll_loses_nothing,
    topic_management,
    end_offsets,
);

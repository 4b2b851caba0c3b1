//! The figures of a run, as the report states them.

use hookline_testkit::bench::LatencyReport;
use serde::Serialize;

use crate::proc_stats::CpuShares;

#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    /// HTTP modes: ingest requests answered 202 per second, and the 202's latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_requests_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_ms: Option<Percentiles>,
    /// Kafka fan-in: records acknowledged by the broker per second, the latency of one
    /// append (a batch, until every record is acknowledged), and records the ingest role
    /// refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produced_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produce_batch_ack_ms: Option<Percentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// Distinct webhooks the receiver got, of those accepted.
    pub delivered: u64,
    pub missing: u64,
    /// Deliveries of a webhook it already had.
    pub duplicates: u64,
    /// Delivered webhooks per second, from the first one sent to the last one received.
    pub deliveries_per_s: f64,
    /// From the stamp in the body (sent) to its arrival at the receiver.
    pub end_to_end_ms: Percentiles,
    /// hookline's user + system CPU from start to the last delivery, idle time included.
    pub hookline_cpu_seconds: f64,
    /// hookline's CPU from the first webhook sent to the last delivery, per webhook.
    pub hookline_cpu_us_per_webhook: f64,
    pub hookline_rss_idle_mb: f64,
    /// Peak resident memory (VmHWM).
    pub hookline_rss_peak_mb: f64,
    pub cpu_while_sending: CpuShares,
    pub cpu_whole_run: CpuShares,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Of samples in any order (NaN when there are none).
    pub fn of(mut samples: Vec<f64>) -> Percentiles {
        samples.sort_by(f64::total_cmp);
        let at = |p: f64| match samples.len() {
            0 => f64::NAN,
            n => samples[((n - 1) as f64 * p).round() as usize],
        };
        Percentiles { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: at(1.0) }
    }

    /// Microseconds (the receiver's, or a histogram's), in milliseconds.
    pub fn from_us(latency: &LatencyReport) -> Percentiles {
        let ms = |us: u64| if latency.samples == 0 { f64::NAN } else { us as f64 / 1000.0 };
        Percentiles { p50: ms(latency.p50), p95: ms(latency.p95), p99: ms(latency.p99), max: ms(latency.max) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(Percentiles::of(samples), Percentiles { p50: 51.0, p95: 95.0, p99: 99.0, max: 100.0 });
        assert!(Percentiles::of(Vec::new()).p50.is_nan());
    }
}

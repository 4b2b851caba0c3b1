//! The rows of a long run: what happened in each 10-second window, and the same rows
//! condensed (one per minute, say) for reading a run of hours.

use std::time::Duration;

use serde::Serialize;

/// The length of one row.
pub const WINDOW: Duration = Duration::from_secs(10);

/// One window of a long run. Counts are of the window; `backlog`, `rss_last_mb` and
/// `disk_bytes` are as they stood at its end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// End of the window, seconds since the load started.
    pub at_s: f64,
    /// Length of the window: 10 s, but the last one may be shorter.
    pub seconds: f64,
    /// Requests the schedule started (due) in the window.
    pub offered: u64,
    /// Requests answered 202 in the window.
    pub accepted: u64,
    /// Distinct webhooks the receiver got in the window.
    pub delivered: u64,
    /// Accepted so far but not yet delivered.
    pub backlog: u64,
    /// p99 of the 202s answered in the window, from when each request was due; `None` when
    /// nothing was answered.
    pub ack_p99_ms: Option<f64>,
    /// p99 of the deliveries that arrived in the window, from when each request was due.
    pub e2e_p99_ms: Option<f64>,
    /// hookline's resident memory, sampled every second: the highest sample of the window,
    /// and the last.
    pub rss_max_mb: f64,
    pub rss_last_mb: f64,
    /// hookline's CPU (user + system) over the window, in cores (1.0 = one core throughout).
    pub cpu_cores: f64,
    /// hookline's CPU of the window per webhook accepted in it; `None` when none was.
    pub cpu_us_per_webhook: Option<f64>,
    /// Bytes of files under hookline's data directory.
    pub disk_bytes: u64,
}

impl Row {
    /// Webhooks per second of a count of the window.
    pub fn per_second(&self, count: u64) -> f64 {
        if self.seconds > 0.0 {
            count as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for Row {
    /// One line for watching a run go by.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} offered {:.0}/s accepted {:.0}/s delivered {:.0}/s backlog {} ack p99 {} e2e p99 {} \
             RSS {:.0} MB CPU {:.2} cores disk {:.1} MB",
            crate::chart::clock(self.at_s),
            self.per_second(self.offered),
            self.per_second(self.accepted),
            self.per_second(self.delivered),
            self.backlog,
            p99_text(self.ack_p99_ms),
            p99_text(self.e2e_p99_ms),
            self.rss_max_mb,
            self.cpu_cores,
            self.disk_bytes as f64 / 1e6,
        )
    }
}

/// A p99 in milliseconds, or a dash for a window with nothing to measure.
pub fn p99_text(p99_ms: Option<f64>) -> String {
    p99_ms.map_or("–".into(), |ms| format!("{ms:.1} ms"))
}

/// `rows` merged `per` at a time: counts added up, states (backlog, last RSS, disk) as at the
/// end, highest RSS the highest, CPU averaged over the time. A p99 cannot be merged from p99s,
/// so a merged row holds the worst of its windows' p99s.
pub fn condense(rows: &[Row], per: usize) -> Vec<Row> {
    rows.chunks(per.max(1)).map(merge).collect()
}

/// `rows` (at least one) as one row, as [`condense`] merges them.
pub fn merge(rows: &[Row]) -> Row {
    let last = rows.last().expect("chunks are never empty");
    let sum = |count: fn(&Row) -> u64| rows.iter().map(count).sum::<u64>();
    let worst = |p99: fn(&Row) -> Option<f64>| rows.iter().filter_map(p99).reduce(f64::max);
    let seconds: f64 = rows.iter().map(|row| row.seconds).sum();
    let cpu_seconds: f64 = rows.iter().map(|row| row.cpu_cores * row.seconds).sum();
    let accepted = sum(|row| row.accepted);
    Row {
        at_s: last.at_s,
        seconds,
        offered: sum(|row| row.offered),
        accepted,
        delivered: sum(|row| row.delivered),
        backlog: last.backlog,
        ack_p99_ms: worst(|row| row.ack_p99_ms),
        e2e_p99_ms: worst(|row| row.e2e_p99_ms),
        rss_max_mb: rows.iter().map(|row| row.rss_max_mb).fold(f64::NAN, f64::max),
        rss_last_mb: last.rss_last_mb,
        cpu_cores: if seconds > 0.0 { cpu_seconds / seconds } else { 0.0 },
        cpu_us_per_webhook: (accepted > 0).then(|| cpu_seconds * 1e6 / accepted as f64),
        disk_bytes: last.disk_bytes,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A full 10-second row ending at `at_s`, offering and accepting `rate` per second.
    pub fn row(at_s: f64, rate: u64, backlog: u64) -> Row {
        Row {
            at_s,
            seconds: 10.0,
            offered: rate * 10,
            accepted: rate * 10,
            delivered: rate * 10,
            backlog,
            ack_p99_ms: Some(2.0),
            e2e_p99_ms: Some(3.0),
            rss_max_mb: 40.0,
            rss_last_mb: 38.0,
            cpu_cores: 0.5,
            cpu_us_per_webhook: Some(5e5 / rate as f64),
            disk_bytes: 1_000,
        }
    }

    #[test]
    fn condensed_rows_add_counts_keep_end_states_and_worst_p99s() {
        let mut rows: Vec<Row> = (1..=8).map(|n| row(10.0 * n as f64, 100 * n, n)).collect();
        rows[1].ack_p99_ms = Some(9.0);
        rows[2].ack_p99_ms = None;
        rows[4].rss_max_mb = 70.0;
        rows[5].cpu_cores = 1.5;
        let condensed = condense(&rows, 6);
        assert_eq!(condensed.len(), 2);
        let minute = &condensed[0];
        assert_eq!((minute.at_s, minute.seconds), (60.0, 60.0));
        assert_eq!((minute.offered, minute.accepted, minute.backlog), (21_000, 21_000, 6));
        assert_eq!((minute.ack_p99_ms, minute.rss_max_mb), (Some(9.0), 70.0));
        // Five windows at 0.5 cores and one at 1.5: 4 CPU seconds per 60.
        assert!((minute.cpu_cores - 4.0 / 6.0).abs() < 1e-9, "{}", minute.cpu_cores);
        assert!((minute.cpu_us_per_webhook.expect("accepted") - 40e6 / 21_000.0).abs() < 1e-6);
        assert_eq!((condensed[1].at_s, condensed[1].seconds, condensed[1].backlog), (80.0, 20.0, 8));
    }
}

//! Latency percentiles of one interval in constant space: counts in buckets growing by
//! √2 from 1 ms (the last one holds everything above about 24 days), a percentile read
//! by interpolating inside its bucket. Within about ±19 % of the exact value, which is
//! what a chart of p50 and p99 over time needs.

use serde::Serialize;

const BUCKETS: usize = 64;

/// p50 and p99 of one interval, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct Sketch {
    counts: [u32; BUCKETS],
    total: u32,
}

impl Default for Sketch {
    fn default() -> Self {
        Self { counts: [0; BUCKETS], total: 0 }
    }
}

impl Sketch {
    pub fn record(&mut self, ms: f64) {
        let bucket = bucket_of(ms);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.total = self.total.saturating_add(1);
    }

    /// p50 and p99 of what was recorded; `None` when nothing was.
    pub fn percentiles(&self) -> Option<Percentiles> {
        (self.total > 0).then(|| Percentiles { p50: self.quantile(0.50), p99: self.quantile(0.99) })
    }

    fn quantile(&self, q: f64) -> f64 {
        let rank = (q * f64::from(self.total)).ceil().max(1.0);
        let mut below = 0.0;
        for (bucket, count) in self.counts.iter().enumerate().filter(|(_, count)| **count > 0) {
            let count = f64::from(*count);
            if below + count >= rank {
                let (low, high) = bounds(bucket);
                let within = (rank - below) / count;
                let value = if bucket == 0 { high * within } else { low * (high / low).powf(within) };
                return (value * 10.0).round() / 10.0;
            }
            below += count;
        }
        bounds(BUCKETS - 1).1
    }
}

/// Bucket 0 holds [0, 1] ms; bucket i holds (2^((i-1)/2), 2^(i/2)] ms.
fn bucket_of(ms: f64) -> usize {
    if ms.is_nan() || ms <= 1.0 {
        return 0;
    }
    ((2.0 * ms.log2()).ceil() as usize).min(BUCKETS - 1)
}

fn bounds(bucket: usize) -> (f64, f64) {
    if bucket == 0 {
        return (0.0, 1.0);
    }
    (2f64.powf((bucket as f64 - 1.0) / 2.0), 2f64.powf(bucket as f64 / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_recorded_has_no_percentiles() {
        assert_eq!(Sketch::default().percentiles(), None);
    }

    #[test]
    fn percentiles_are_within_a_bucket_of_the_exact_values() {
        let mut sketch = Sketch::default();
        // 1..=1000 ms: exact p50 500, p99 990.
        for ms in 1..=1000 {
            sketch.record(f64::from(ms));
        }
        let found = sketch.percentiles().unwrap();
        assert!((found.p50 / 500.0 - 1.0).abs() < 0.2, "{found:?}");
        assert!((found.p99 / 990.0 - 1.0).abs() < 0.2, "{found:?}");
        assert!(found.p50 < found.p99);
    }

    #[test]
    fn one_value_and_extremes() {
        let mut sketch = Sketch::default();
        sketch.record(40.0);
        let found = sketch.percentiles().unwrap();
        assert!((found.p50 / 40.0 - 1.0).abs() < 0.2 && found.p50 == found.p99, "{found:?}");
        let mut tiny = Sketch::default();
        tiny.record(0.0);
        assert!(tiny.percentiles().unwrap().p99 <= 1.0);
        let mut huge = Sketch::default();
        huge.record(1e12);
        huge.record(f64::NAN);
        assert!(huge.percentiles().unwrap().p99 > 1e9);
    }
}

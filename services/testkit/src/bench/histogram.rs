//! A fixed-size log-linear histogram of microsecond latencies: exact below 64, then 64 buckets
//! per power of two (under 1.6 % relative error), constant memory whatever the run length.

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 6;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Enough buckets for every `u64`.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB_BUCKETS;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    samples: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: Box::new([0; BUCKETS]), samples: 0, max: 0 }
    }
}

impl Histogram {
    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.samples += 1;
        self.max = self.max.max(value);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        self.counts.iter_mut().zip(other.counts.iter()).for_each(|(mine, theirs)| *mine += theirs);
        self.samples += other.samples;
        self.max = self.max.max(other.max);
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0..=1.0): the upper end of the bucket holding it, never above
    /// the maximum seen. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.samples == 0 {
            return 0;
        }
        // The rank of the sample asked for, 1-based, so that q = 1.0 is the maximum.
        let rank = ((q.clamp(0.0, 1.0) * self.samples as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return highest_in(index).min(self.max);
            }
        }
        self.max
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    let magnitude = 63 - value.leading_zeros(); // at least SUB_BITS here
    let shift = magnitude - SUB_BITS;
    let sub = (value >> shift) as usize & (SUB_BUCKETS - 1);
    ((shift as usize + 1) << SUB_BITS) + sub
}

/// The largest value that falls in bucket `index`.
fn highest_in(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let shift = (index >> SUB_BITS) - 1;
    let sub = (index & (SUB_BUCKETS - 1)) as u64;
    let lowest = (SUB_BUCKETS as u64 + sub) << shift;
    lowest + ((1u64 << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_and_within_bounds() {
        let mut previous = 0;
        for value in (0..5_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let index = bucket_of(value);
            assert!(index < BUCKETS && index >= previous, "{value} -> {index}");
            assert!(value <= highest_in(index), "{value} above its bucket {index}");
            assert!(index == 0 || value > highest_in(index - 1), "{value} belongs below {index}");
            previous = index;
        }
    }

    #[test]
    fn small_values_are_exact_and_large_ones_within_two_percent() {
        let mut exact = Histogram::default();
        (1..=50).for_each(|v| exact.record(v));
        assert_eq!((exact.quantile(0.5), exact.quantile(0.99), exact.quantile(1.0)), (25, 50, 50));

        let mut spread = Histogram::default();
        (1..=100_000u64).for_each(|v| spread.record(v));
        for (q, expected) in [(0.5, 50_000.0), (0.95, 95_000.0), (0.99, 99_000.0)] {
            let got = spread.quantile(q) as f64;
            assert!((got - expected).abs() / expected < 0.02, "q{q}: {got} vs {expected}");
        }
        assert_eq!((spread.max(), spread.samples(), spread.quantile(1.0)), (100_000, 100_000, 100_000));
    }

    #[test]
    fn a_merge_holds_the_samples_of_both() {
        let (mut low, mut high) = (Histogram::default(), Histogram::default());
        (1..=50).for_each(|v| low.record(v));
        (51..=100).for_each(|v| high.record(v));
        low.merge(&high);
        assert_eq!((low.samples(), low.max(), low.quantile(0.25), low.quantile(0.75)), (100, 100, 25, 75));
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        let empty = Histogram::default();
        assert_eq!((empty.quantile(0.5), empty.max(), empty.samples()), (0, 0, 0));
    }
}

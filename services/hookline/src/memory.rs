//! What the process may hold in memory and the log may keep on disk: the page cache
//! of the embedded views, the embedded log's in-memory tails, its segment size and
//! its size retention. docs/memory.md adds them up.

use clap::Args;
use hookline_log::embedded::{EmbeddedOptions, DEFAULT_SEGMENT_BYTES, DEFAULT_TAIL_BYTES};
use hookline_views::embedded::DEFAULT_CACHE_BYTES;

use crate::config::heading;

/// The smallest segment accepted: a few records of any size still fit.
const MIN_SEGMENT_BYTES: u64 = 64 << 10;
/// The smallest page cache accepted for the views: redb needs a few pages per tree.
const MIN_VIEWS_CACHE_BYTES: usize = 1 << 20;
/// The default segment size is this share of the size retention, when that is smaller
/// than [`DEFAULT_SEGMENT_BYTES`]: a partition then always keeps 3 to 4 segments' worth.
const SEGMENTS_PER_RETENTION: u64 = 4;

#[derive(Args, Clone, Debug)]
pub struct MemorySettings {
    /// Page cache of the embedded views (redb), in bytes (at least 1 MiB): reads and the
    /// write buffer together, however large the views file grows.
    #[arg(long, env = "HOOKLINE_VIEWS_CACHE_BYTES", default_value_t = DEFAULT_CACHE_BYTES, help_heading = heading::MEMORY)]
    pub views_cache_bytes: usize,

    /// Recent records the embedded log keeps in memory for consumers that keep up, in
    /// bytes, all partitions together: the newest records stay, whichever partitions
    /// they are in, for ten seconds at most (older ones are read from the segment files).
    #[arg(long, env = "HOOKLINE_LOG_TAIL_BYTES", default_value_t = DEFAULT_LOG_TAIL_BYTES, help_heading = heading::MEMORY)]
    pub log_tail_bytes: usize,

    /// Size retention of the log, in bytes per partition, for every topic but
    /// `hookline.subscriptions` and `hookline.tenants` (0: by time only; else at least
    /// two segments). Records past it are deleted even when the views still show their
    /// tasks or a consumer has not read them yet: see docs/memory.md.
    #[arg(long, env = "HOOKLINE_LOG_RETENTION_BYTES", default_value_t = 0, help_heading = heading::RETENTION)]
    pub log_retention_bytes: u64,

    /// Size of a segment file of the embedded log, in bytes (at least 64 KiB). Unset:
    /// 64 MiB, or a quarter of HOOKLINE_LOG_RETENTION_BYTES when that is smaller.
    #[arg(long, env = "HOOKLINE_LOG_SEGMENT_BYTES", help_heading = heading::RETENTION)]
    pub log_segment_bytes: Option<u64>,
}

/// The default of `HOOKLINE_LOG_TAIL_BYTES`.
pub const DEFAULT_LOG_TAIL_BYTES: usize = DEFAULT_TAIL_BYTES;

/// The memory settings, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    pub views_cache_bytes: usize,
    pub log_tail_bytes: usize,
    pub log_retention_bytes: Option<u64>,
    pub log_segment_bytes: u64,
}

impl MemorySettings {
    pub fn check(&self, problems: &mut Vec<String>) -> Memory {
        let log_retention_bytes = (self.log_retention_bytes > 0).then_some(self.log_retention_bytes);
        let log_segment_bytes = self.log_segment_bytes.unwrap_or_else(|| {
            let share = log_retention_bytes.map_or(DEFAULT_SEGMENT_BYTES, |bytes| bytes / SEGMENTS_PER_RETENTION);
            share.clamp(MIN_SEGMENT_BYTES, DEFAULT_SEGMENT_BYTES)
        });
        if log_segment_bytes < MIN_SEGMENT_BYTES {
            problems.push(format!("HOOKLINE_LOG_SEGMENT_BYTES must be at least {MIN_SEGMENT_BYTES}"));
        }
        if let Some(retention) = log_retention_bytes {
            if retention < 2 * log_segment_bytes {
                problems.push(format!(
                    "HOOKLINE_LOG_RETENTION_BYTES ({retention}) must be at least two segments \
                     (2 × {log_segment_bytes} bytes; see HOOKLINE_LOG_SEGMENT_BYTES)"
                ));
            }
        }
        if self.views_cache_bytes < MIN_VIEWS_CACHE_BYTES {
            problems.push(format!("HOOKLINE_VIEWS_CACHE_BYTES must be at least {MIN_VIEWS_CACHE_BYTES}"));
        }
        Memory {
            views_cache_bytes: self.views_cache_bytes,
            log_tail_bytes: self.log_tail_bytes,
            log_retention_bytes,
            log_segment_bytes,
        }
    }
}

impl Memory {
    /// The embedded log's options.
    pub fn embedded_log(&self) -> EmbeddedOptions {
        EmbeddedOptions {
            segment_bytes: self.log_segment_bytes,
            retention_bytes: self.log_retention_bytes,
            tail_bytes: self.log_tail_bytes,
            ..EmbeddedOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        memory: MemorySettings,
    }

    fn check(args: &[&str]) -> Result<Memory, Vec<String>> {
        let cli = Cli::try_parse_from(std::iter::once("hookline").chain(args.iter().copied())).expect("parses");
        let mut problems = Vec::new();
        let memory = cli.memory.check(&mut problems);
        if problems.is_empty() {
            Ok(memory)
        } else {
            Err(problems)
        }
    }

    #[test]
    fn defaults_cap_the_views_cache_and_keep_the_log_by_time() {
        let memory = check(&[]).unwrap();
        assert_eq!(memory.views_cache_bytes, 32 << 20);
        assert_eq!(memory.log_tail_bytes, 32 << 20);
        assert_eq!(memory.log_retention_bytes, None);
        assert_eq!(memory.log_segment_bytes, 64 << 20);
    }

    #[test]
    fn segments_follow_a_small_size_retention() {
        let memory = check(&["--log-retention-bytes", "4194304"]).unwrap();
        assert_eq!(memory.log_retention_bytes, Some(4 << 20));
        assert_eq!(memory.log_segment_bytes, 1 << 20);
        let large = check(&["--log-retention-bytes", "1099511627776"]).unwrap();
        assert_eq!(large.log_segment_bytes, 64 << 20);
        let explicit = check(&["--log-retention-bytes", "4194304", "--log-segment-bytes", "131072"]).unwrap();
        assert_eq!(explicit.log_segment_bytes, 128 << 10);
    }

    #[test]
    fn a_retention_smaller_than_two_segments_is_refused() {
        let problems = check(&["--log-retention-bytes", "1048576", "--log-segment-bytes", "1048576"]).unwrap_err();
        assert!(
            problems[0].contains("HOOKLINE_LOG_RETENTION_BYTES (1048576) must be at least two segments"),
            "{problems:?}"
        );
        let problems = check(&["--log-retention-bytes", "100000"]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(check(&["--views-cache-bytes", "1000"]).is_err());
    }
}

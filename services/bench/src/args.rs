//! The command line, and what kind of run it asks for.

use std::path::PathBuf;

use clap::Parser;

use crate::scenario::Mode;

#[derive(Parser)]
pub struct Args {
    /// The hookline binary.
    #[arg(long, default_value = "target/release/hookline")]
    pub hookline: String,
    /// The receiver binary.
    #[arg(long, default_value = "target/release/hookline-receiver")]
    pub receiver: String,
    /// Burst: webhooks to send.
    #[arg(long, default_value_t = 20_000, value_parser = positive, conflicts_with = "duration")]
    pub requests: usize,
    /// Concurrent HTTP connections (a long run opens them all and sends over whichever is free).
    #[arg(long, default_value_t = 64, value_parser = positive)]
    pub concurrency: usize,
    /// Webhooks started per second. Burst: spread over the senders (default: each sender sends
    /// as soon as its last request or produce call was answered, i.e. saturation). Long run:
    /// the fixed rate of the open-loop schedule.
    #[arg(long, value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Long run: how long the load lasts (`90s`, `10m`, `2h`, `1h30m`), open loop at `--rate`,
    /// or rising with `--step`.
    #[arg(long, value_parser = parse_seconds)]
    pub duration: Option<u64>,
    /// Long run: raise the rate every `--step-seconds` from `--start-rate` by `--step-rate`
    /// until a step is not held, the rate would pass `--max-rate` or the duration is over.
    #[arg(long, requires = "duration", conflicts_with = "rate")]
    pub step: bool,
    #[arg(long, default_value_t = 1_000.0, value_parser = positive_rate)]
    pub start_rate: f64,
    #[arg(long, default_value_t = 1_000.0, value_parser = positive_rate)]
    pub step_rate: f64,
    /// A whole number of 10-second rows, at least two.
    #[arg(long, default_value_t = 30, value_parser = parse_step_seconds)]
    pub step_seconds: u64,
    #[arg(long, default_value_t = 50_000.0, value_parser = positive_rate)]
    pub max_rate: f64,
    /// Long run: seconds to wait once every webhook was delivered before reading hookline's
    /// memory at rest.
    #[arg(long, default_value_t = 30)]
    pub idle_seconds: u64,
    /// Bytes of each webhook body: an order event with nested objects and line items.
    #[arg(long, default_value_t = 1_024)]
    pub payload_bytes: usize,
    /// Run on the Kafka log and CQL views named by `KAFKA_BROKERS` and `SCYLLA_NODES`
    /// (in a fresh namespace and keyspace) instead of the embedded default.
    #[arg(long, conflicts_with = "fan_in_kafka")]
    pub distributed: bool,
    /// Produce the webhooks straight into Kafka (`hookline.ingest`) instead of POSTing
    /// them: hookline on the Kafka log of `KAFKA_BROKERS` (fresh namespace), views on
    /// `SCYLLA_NODES` if set (fresh keyspace), else embedded. Bursts only.
    #[arg(long, conflicts_with = "duration")]
    pub fan_in_kafka: bool,
    /// Fan-in: concurrent producer tasks.
    #[arg(long, default_value_t = 8, value_parser = positive)]
    pub producers: usize,
    /// Fan-in: records per produce call (each waits until all are acknowledged).
    #[arg(long, default_value_t = 100, value_parser = positive)]
    pub batch: usize,
    /// Fan-in: subscriptions the webhooks are spread over, round-robin.
    #[arg(long, default_value_t = 8, value_parser = positive)]
    pub subscriptions: usize,
    /// Fan-in: give every subscription a secret and sign every record with it.
    #[arg(long)]
    pub signed: bool,
    /// Send events to the default tenant (`POST /api/v1/events`) that this many
    /// subscriptions want, instead of webhooks to one subscription: each accepted event
    /// makes this many deliveries.
    #[arg(long, value_parser = positive, conflicts_with = "fan_in_kafka")]
    pub fan_out: Option<usize>,
    /// With `--fan-out`: subscriptions of the same tenant that want other event types
    /// (what matching must not scan).
    #[arg(long, default_value_t = 0, requires = "fan_out")]
    pub bystanders: usize,
    /// Subscriptions ordered by key (`"ordering": "key"`), and every webhook sent with
    /// an ordering key, round-robin over this many keys: what ordering costs.
    #[arg(long, value_parser = positive, conflicts_with = "fan_in_kafka")]
    pub ordering_keys: Option<usize>,
    /// Where the report goes (`<name>.md`, `<name>.json`, and `<name>.svg` for a long run).
    #[arg(long, default_value = "docs/bench")]
    pub report_dir: PathBuf,
    /// The report's file name without extension. Default: the mode (`embedded`, …) for a
    /// burst; `<mode>-<duration>-<rate>` or `<mode>-step-<duration>` for a long run.
    #[arg(long, value_parser = parse_report_name)]
    pub report_name: Option<String>,
}

/// What a run does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunKind {
    /// A fixed number of webhooks, as fast as answered or paced per sender: seconds long.
    Burst {
        requests: usize,
    },
    Long(LongKind),
}

/// The load of a long run, open loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LongKind {
    /// A fixed rate for a duration.
    Fixed { rate: f64, seconds: u64 },
    /// Rising rates until one is not held.
    Step { start_rate: f64, step_rate: f64, step_seconds: u64, max_rate: f64, seconds: u64 },
}

impl Args {
    pub fn mode(&self) -> Mode {
        match (self.distributed, self.fan_in_kafka) {
            (true, _) => Mode::Distributed,
            (_, true) => Mode::KafkaFanIn,
            _ => Mode::Embedded,
        }
    }

    pub fn kind(&self) -> Result<RunKind, String> {
        Ok(match (self.duration, self.step, self.rate) {
            (None, _, _) => RunKind::Burst { requests: self.requests },
            (Some(seconds), true, _) => RunKind::Long(LongKind::Step {
                start_rate: self.start_rate,
                step_rate: self.step_rate,
                step_seconds: self.step_seconds,
                max_rate: self.max_rate,
                seconds,
            }),
            (Some(seconds), false, Some(rate)) => RunKind::Long(LongKind::Fixed { rate, seconds }),
            (Some(_), false, None) => return Err("--duration needs --rate, or --step".into()),
        })
    }

    /// The report's name: as given, or one that tells runs of different kinds apart.
    pub fn report_name(&self, kind: RunKind) -> String {
        let mode = self.mode().report_name();
        self.report_name.clone().unwrap_or_else(|| match kind {
            RunKind::Burst { .. } => mode.to_string(),
            RunKind::Long(LongKind::Fixed { rate, seconds }) => format!("{mode}-{}-{rate:.0}", duration_label(seconds)),
            RunKind::Long(LongKind::Step { seconds, .. }) => format!("{mode}-step-{}", duration_label(seconds)),
        })
    }
}

fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?} is not a whole number above 0")),
    }
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a rate above 0")),
    }
}

/// Seconds from `90`, `90s`, `10m`, `2h` or a sum such as `1h30m`; above zero.
fn parse_seconds(text: &str) -> Result<u64, String> {
    let invalid = || format!("{text:?} is not a duration such as 90s, 10m, 2h or 1h30m");
    let (mut total, mut digits) = (0u64, String::new());
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            _ => return Err(invalid()),
        };
        total += digits.parse::<u64>().map_err(|_| invalid())? * unit;
        digits.clear();
    }
    if !digits.is_empty() {
        total += digits.parse::<u64>().map_err(|_| invalid())?;
    }
    if total == 0 {
        return Err(invalid());
    }
    Ok(total)
}

fn parse_step_seconds(text: &str) -> Result<u64, String> {
    match parse_seconds(text)? {
        seconds if seconds >= 20 && seconds % 10 == 0 => Ok(seconds),
        _ => Err(format!("{text:?}: a step is a whole number of 10-second rows, at least two")),
    }
}

/// A report name stays a plain file name.
fn parse_report_name(text: &str) -> Result<String, String> {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if plain && !text.starts_with('.') {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?}: a report name is letters, digits, '-', '_' and '.'"))
    }
}

/// `600` → `10m`, `5400` → `90m`, `7200` → `2h`, `95` → `95s`.
pub fn duration_label(seconds: u64) -> String {
    match seconds {
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("hookline-bench").chain(line.split_whitespace()))
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_seconds("90s"), Ok(90));
        assert_eq!(parse_seconds("90"), Ok(90));
        assert_eq!(parse_seconds("10m"), Ok(600));
        assert_eq!(parse_seconds("1h30m"), Ok(5_400));
        for wrong in ["", "0s", "10x", "m", "1.5m"] {
            assert!(parse_seconds(wrong).is_err(), "{wrong:?}");
        }
        assert_eq!(
            (duration_label(600), duration_label(7_200), duration_label(95)),
            ("10m".into(), "2h".into(), "95s".into())
        );
    }

    #[test]
    fn the_flags_pick_the_kind_of_run_and_its_report_name() {
        let burst = args("--requests 30000").expect("a burst");
        assert_eq!(burst.kind(), Ok(RunKind::Burst { requests: 30_000 }));
        assert_eq!(burst.report_name(burst.kind().expect("kind")), "embedded");

        let fixed = args("--duration 10m --rate 5000").expect("a fixed run");
        assert_eq!(fixed.kind(), Ok(RunKind::Long(LongKind::Fixed { rate: 5_000.0, seconds: 600 })));
        assert_eq!(fixed.report_name(fixed.kind().expect("kind")), "embedded-10m-5000");

        let step = args("--step --duration 10m --start-rate 2000 --report-name mine").expect("a step run");
        let expected = LongKind::Step {
            start_rate: 2_000.0,
            step_rate: 1_000.0,
            step_seconds: 30,
            max_rate: 50_000.0,
            seconds: 600,
        };
        assert_eq!(step.kind(), Ok(RunKind::Long(expected)));
        assert_eq!(step.report_name(step.kind().expect("kind")), "mine");

        assert!(args("--duration 10m").expect("parses").kind().is_err(), "no rate");
        assert!(args("--duration 10m --requests 5").is_err());
        assert!(args("--step --rate 5").is_err());
        assert!(args("--step --duration 1m --step-seconds 25").is_err());
        assert!(args("--duration 1m --rate 5 --fan-in-kafka").is_err());
        assert!(args("--report-name ../x").is_err());
    }
}

//! The fuzz targets on every `cargo test`: each file of the kept corpus
//! (`fuzz/corpus/<target>/`), then random inputs, half of them fresh bytes and half
//! corpus files with a few bytes changed, so that the random ones reach past the
//! first checks.

use std::fs;
use std::path::{Path, PathBuf};

use hookline_fuzz_targets::{Target, TARGETS};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// Random inputs per target and per kind (fresh, mutated): 20,000 in all.
const CASES: u32 = 10_000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn target(name: &str) -> &'static Target {
    TARGETS.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no fuzz target {name}"))
}

/// The kept corpus of a target; it must not be empty.
fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(name);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    assert!(!files.is_empty(), "{}: the corpus is empty", dir.display());
    files.sort();
    files
}

fn replay_corpus(name: &str) {
    let target = target(name);
    for (path, bytes) in corpus(name) {
        let outcome = std::panic::catch_unwind(|| (target.run)(&bytes));
        assert!(outcome.is_ok(), "{name}: {} fails", path.display());
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() })
}

/// A cheap stream of bytes from a seed (SplitMix64), so that proptest only draws and
/// shrinks two numbers per case rather than one value per byte.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn run_cases<S: Strategy>(name: &str, strategy: S, input: impl Fn(S::Value) -> Vec<u8>)
where
    S::Value: std::fmt::Debug,
{
    let run = target(name).run;
    let outcome = runner().run(&strategy, |value| {
        run(&input(value));
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{name}: {failure}");
    }
}

fn random_bytes(name: &str) {
    run_cases(name, (any::<u64>(), 0usize..512), |(seed, len)| Noise(seed).bytes(len));
}

/// A corpus file with up to 8 bytes overwritten or inserted and maybe cut short.
fn mutated_corpus(name: &str) {
    let seeds: Vec<Vec<u8>> = corpus(name).into_iter().map(|(_, bytes)| bytes).collect();
    run_cases(name, (any::<Index>(), any::<u64>(), 0usize..8), |(file, seed, edits)| {
        let mut noise = Noise(seed);
        let mut input = seeds[file.index(seeds.len())].clone();
        for _ in 0..edits {
            let at = noise.below(input.len() + 1);
            let byte = noise.next() as u8;
            match (noise.next().is_multiple_of(2), input.get_mut(at)) {
                (false, Some(old)) => *old = byte,
                _ => input.insert(at, byte),
            }
        }
        if noise.next().is_multiple_of(4) {
            input.truncate(noise.below(input.len() + 1));
        }
        input
    });
}

macro_rules! fuzz_target_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn corpus_replays() {
                    super::replay_corpus(stringify!($name));
                }

                #[test]
                fn random_inputs() {
                    super::random_bytes(stringify!($name));
                }

                #[test]
                fn mutated_corpus_inputs() {
                    super::mutated_corpus(stringify!($name));
                }
            }
        )*

        /// Every target has its tests here, a cargo-fuzz target and a corpus folder, and
        /// nothing else does.
        #[test]
        fn every_target_is_tested_fuzzed_and_has_a_corpus() {
            let tested = [$(stringify!($name)),*];
            let names = |dir: &str, suffix: &str| {
                let mut names: Vec<String> = fs::read_dir(fuzz_dir().join(dir))
                    .unwrap_or_else(|e| panic!("fuzz/{dir}: {e}"))
                    .filter_map(|entry| entry.ok()?.file_name().into_string().ok()?.strip_suffix(suffix).map(String::from))
                    .collect();
                names.sort();
                names
            };
            let mut registered: Vec<String> = TARGETS.iter().map(|t| t.name.to_string()).collect();
            registered.sort();
            let mut tested: Vec<String> = tested.iter().map(|n| n.to_string()).collect();
            tested.sort();
            assert_eq!(tested, registered, "targets with tests here vs TARGETS");
            assert_eq!(names("fuzz_targets", ".rs"), registered, "fuzz/fuzz_targets/ vs TARGETS");
            assert_eq!(names("corpus", ""), registered, "fuzz/corpus/ vs TARGETS");
        }
    };
}

fuzz_target_tests!(
    ingest_signature,
    standard_webhooks_signature,
    target_url,
    target_allowlist,
    ingest_envelope,
    event_json,
    delivery_record,
    projector_record,
);

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz_targets::target_url::allowlist(data));

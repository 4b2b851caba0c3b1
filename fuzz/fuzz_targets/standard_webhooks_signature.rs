#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz_targets::signature::standard_webhooks(data));

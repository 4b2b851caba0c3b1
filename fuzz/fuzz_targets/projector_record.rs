#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline_fuzz_targets::records::projector_record(data));

//! Parse + validate arbitrary bytes: must never panic, overflow the stack or
//! hang, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        match voronka_process::validate_source("fuzz.yaml", source) {
            Ok((_, warnings)) => assert!(!voronka_process::has_errors(&warnings)),
            Err(diagnostics) => assert!(voronka_process::has_errors(&diagnostics)),
        }
    }
});

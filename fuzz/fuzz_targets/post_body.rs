//! POST /records bodies: the parser never panics, its quick reader and checking
//! parser agree, and what it accepts is valid (see `kafka_records::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_records::fuzzing::post_body(data);
});

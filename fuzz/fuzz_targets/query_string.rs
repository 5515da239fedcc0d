//! Query strings of GET and DELETE /records/{topic}: the parsers never panic,
//! accept only known parameters with values in range, and name the parameter
//! at fault (see `kafka_records::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_records::fuzzing::query_string(data);
});

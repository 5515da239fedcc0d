//! NDJSON bodies of POST /records: cut into lines wherever the pieces end,
//! the lines are the body's, a line over the limit is named, and each line
//! is a valid record or a 400 naming it (see `kafka_records::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_records::fuzzing::ndjson_body(data);
});

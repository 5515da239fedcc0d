//! The Kafka operations, one file per family. Each is a pure request builder
//! (`build_*_request`) and a pure response reader (`read_*_response`) around
//! one call routed by [`super::leader`]; the pure halves are unit-tested
//! without a broker.

mod admin;
mod delete;
mod fetch;
mod group_admin;
mod groups;
mod offsets;
mod produce;
mod topics;
mod txn;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use super::error::{check, Context};
use super::leader::PerPartition;

pub use fetch::FetchedPartition;
pub use group_admin::{GroupDescription, GroupListing, GroupMember};
pub use offsets::{LastStable, OffsetQuery};
pub use produce::ProduceAck;
pub use topics::{PartitionLayout, TopicLayout};
pub use txn::{EndFailure, Transaction};

/// Isolation level READ_COMMITTED in Fetch and ListOffsets.
const READ_COMMITTED: i8 = 1;
/// Isolation level READ_UNCOMMITTED in ListOffsets (gives the high watermark).
const READ_UNCOMMITTED: i8 = 0;

/// A topic name as the protocol carries it.
pub(super) fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// A partition's entry in a broker's answer: its number and error code.
pub(super) trait PartitionAnswer {
    /// The partition number.
    fn partition(&self) -> i32;
    /// The error code, 0 for none.
    fn error_code(&self) -> i16;
    /// The broker's own message about the error, if it sent one.
    fn error_message(&self) -> Option<&str> {
        None
    }
}

/// Each partition's entry of an answer, read by `read` where the broker
/// reports no error, else the broker's error at `context` (built only then)
/// and the partition.
pub(super) fn per_partition<P: PartitionAnswer, T>(
    entries: impl IntoIterator<Item = P>,
    context: impl Fn() -> Context,
    mut read: impl FnMut(P) -> T,
) -> PerPartition<T> {
    entries
        .into_iter()
        .map(|p| {
            let partition = p.partition();
            let result = check(
                p.error_code(),
                || context().partition(partition),
                p.error_message(),
            )
            .map(|_| read(p));
            (partition, result)
        })
        .collect()
}

//! Consumer-group offsets without group membership.
//!
//! The service reads and commits a group's offsets the way a Java consumer
//! with manually assigned partitions does: it finds the group's coordinator,
//! fetches committed offsets, and commits with generation -1 and no member
//! id. Such a "standalone" commit is refused while the group has live
//! members, so the service checks for them first and reports a conflict.

use kafka_protocol::messages::{
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_fetch_request::OffsetFetchRequestTopic,
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::time::Instant;

use super::super::cluster::{Cluster, CoordinatorKind};
use super::super::error::{check, Context, KafkaError, Operation, ResponseError};
use super::super::versions;
use super::topic_name;

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

/// Errors that mean the group is in use by members of its own.
fn in_use(error: ResponseError) -> bool {
    matches!(
        error,
        ResponseError::UnknownMemberId
            | ResponseError::IllegalGeneration
            | ResponseError::RebalanceInProgress
            | ResponseError::FencedInstanceId
            | ResponseError::StaleMemberEpoch
    )
}

/// The group is in use when it has members (`state` as the broker says it).
fn in_use_by(group: &str, members: usize, state: &str) -> Result<(), KafkaError> {
    if members == 0 {
        return Ok(());
    }
    Err(KafkaError::GroupInUse {
        group: group.to_string(),
        members,
        state: state.to_string(),
    })
}

/// Whether a classic group (DescribeGroups) has live members.
pub(super) fn read_classic_members(
    group: &str,
    response: DescribeGroupsResponse,
) -> Result<(), KafkaError> {
    for g in response.groups {
        check(
            g.error_code,
            || Context::of(Operation::DescribeGroup).id(group),
            g.error_message.as_ref().map(|m| m.as_str()),
        )?;
        in_use_by(group, g.members.len(), g.group_state.as_str())?;
    }
    Ok(())
}

/// Whether a group of the newer consumer protocol (KIP-848) has live
/// members; "not found" means it is not such a group (DescribeGroups tells).
pub(super) fn read_consumer_members(
    group: &str,
    response: ConsumerGroupDescribeResponse,
) -> Result<(), KafkaError> {
    for g in response.groups {
        match ResponseError::try_from_code(g.error_code) {
            // Not a group of the consumer protocol; or the broker's group
            // coordinator does not run that protocol (Kafka 3.7 to 3.9 offer
            // the call but refuse it unless the protocol is enabled), so the
            // group can only be a classic one.
            Some(ResponseError::GroupIdNotFound | ResponseError::UnsupportedVersion) => {}
            Some(error) => {
                let context = Context::of(Operation::DescribeGroup).id(group);
                return Err(KafkaError::broker(error, context, None));
            }
            None => in_use_by(group, g.members.len(), g.group_state.as_str())?,
        }
    }
    Ok(())
}

/// An OffsetFetch request for `partitions` of `topic`, waiting for offsets a
/// transaction is still committing.
pub(super) fn build_offset_fetch_request(
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_require_stable(true)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(partitions.to_vec())]))
}

/// Each partition's committed offset, `None` where the group has none.
pub(super) fn read_offset_fetch_response(
    group: &str,
    topic: &str,
    response: OffsetFetchResponse,
) -> Result<Vec<(i32, Option<i64>)>, KafkaError> {
    let context = Context::of(Operation::FetchGroupOffsets).id(group);
    check(response.error_code, || context.clone(), None)?;
    let mut out = Vec::new();
    for p in response.topics.into_iter().flat_map(|t| t.partitions) {
        let partition = p.partition_index;
        check(
            p.error_code,
            || context.clone().topic(topic).partition(partition),
            None,
        )?;
        out.push((
            partition,
            (p.committed_offset >= 0).then_some(p.committed_offset),
        ));
    }
    Ok(out)
}

/// A standalone OffsetCommit (generation -1, no member id) of `offsets`.
pub(super) fn build_offset_commit_request(
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_retention_time_ms(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                            .with_committed_leader_epoch(-1)
                    })
                    .collect(),
            )])
}

/// The first partition the coordinator refused; a refusal that says the
/// group has members of its own is [`KafkaError::GroupInUse`].
pub(super) fn read_offset_commit_response(
    group: &str,
    topic: &str,
    response: OffsetCommitResponse,
) -> Result<(), KafkaError> {
    for p in response.topics.into_iter().flat_map(|t| t.partitions) {
        match ResponseError::try_from_code(p.error_code) {
            None => {}
            Some(error) if in_use(error) => {
                return Err(KafkaError::GroupInUse {
                    group: group.to_string(),
                    members: 0,
                    state: format!("{error}"),
                })
            }
            Some(error) => {
                let context = Context::of(Operation::CommitGroupOffsets)
                    .id(group)
                    .topic(topic)
                    .partition(p.partition_index);
                return Err(KafkaError::broker(error, context, None));
            }
        }
    }
    Ok(())
}

impl Cluster {
    /// Fails with [`KafkaError::GroupInUse`] when `group` has live members.
    pub async fn check_group_unused(
        &self,
        group: &str,
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        self.with_coordinator(CoordinatorKind::Group, group, deadline, |conn| async move {
            // Groups of the newer consumer protocol (KIP-848) are described by
            // their own call; brokers without it have no such groups. Both
            // calls are pipelined on the connection: one round trip.
            let classic = conn.call(
                DescribeGroupsRequest::default().with_groups(vec![group_id(group)]),
                versions::DESCRIBE_GROUPS,
            );
            let consumer = async {
                if !conn.supports(
                    ConsumerGroupDescribeRequest::KEY,
                    versions::CONSUMER_GROUP_DESCRIBE,
                ) {
                    return Ok(None);
                }
                conn.call(
                    ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]),
                    versions::CONSUMER_GROUP_DESCRIBE,
                )
                .await
                .map(Some)
            };
            let (classic, consumer) = tokio::join!(classic, consumer);
            let classic = classic?;
            if let Some(consumer) = consumer? {
                read_consumer_members(group, consumer)?;
            }
            read_classic_members(group, classic)
        })
        .await
    }

    /// The offsets `group` committed for `partitions` of `topic` (`None`
    /// where it has none). Waits for offsets a transaction is still committing.
    pub async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
        partitions: &[i32],
        deadline: Instant,
    ) -> Result<Vec<(i32, Option<i64>)>, KafkaError> {
        let request = build_offset_fetch_request(group, topic, partitions);
        let read = |response| read_offset_fetch_response(group, topic, response);
        let kind = CoordinatorKind::Group;
        self.ask_coordinator(kind, group, deadline, request, versions::OFFSET_FETCH, read)
            .await
    }

    /// Commits `offsets` (partition, next offset to read) of `topic` for
    /// `group`, without joining it.
    pub async fn commit_offsets(
        &self,
        group: &str,
        topic: &str,
        offsets: &[(i32, i64)],
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        let request = build_offset_commit_request(group, topic, offsets);
        let read = |response| read_offset_commit_response(group, topic, response);
        let kind = CoordinatorKind::Group;
        self.ask_coordinator(
            kind,
            group,
            deadline,
            request,
            versions::OFFSET_COMMIT,
            read,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_groups_response::{
        DescribedGroup, DescribedGroupMember,
    };
    use kafka_protocol::messages::offset_commit_response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };

    use super::*;
    use crate::kafka::error::ErrorKind;

    #[test]
    fn a_classic_group_with_members_is_in_use() {
        let described = |members: usize| {
            DescribeGroupsResponse::default().with_groups(vec![DescribedGroup::default()
                .with_group_state(StrBytes::from_static_str("Stable"))
                .with_members(vec![DescribedGroupMember::default(); members])])
        };
        assert!(read_classic_members("g", described(0)).is_ok());
        let e = read_classic_members("g", described(2)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::GroupInUse);
        assert!(
            e.to_string()
                .contains("'g' is in use by live members (Stable)"),
            "{e}"
        );
    }

    #[test]
    fn a_broker_that_refuses_to_describe_consumer_protocol_groups_has_none() {
        use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
        let refused = |error: ResponseError| {
            ConsumerGroupDescribeResponse::default()
                .with_groups(vec![DescribedGroup::default().with_error_code(error.code())])
        };
        // Kafka 3.9 without the consumer protocol enabled: UNSUPPORTED_VERSION.
        assert!(read_consumer_members("g", refused(ResponseError::UnsupportedVersion)).is_ok());
        assert!(read_consumer_members("g", refused(ResponseError::GroupIdNotFound)).is_ok());
        let e = read_consumer_members("g", refused(ResponseError::GroupAuthorizationFailed))
            .unwrap_err();
        assert!(e.to_string().starts_with("describing group 'g'"), "{e}");
    }

    #[test]
    fn a_commit_refused_for_a_generation_means_the_group_is_in_use() {
        let refused = |error: ResponseError| {
            OffsetCommitResponse::default().with_topics(vec![OffsetCommitResponseTopic::default()
                .with_partitions(vec![OffsetCommitResponsePartition::default()
                    .with_partition_index(2)
                    .with_error_code(error.code())])])
        };
        let e = read_offset_commit_response("g", "t", refused(ResponseError::IllegalGeneration))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::GroupInUse);
        let e = read_offset_commit_response("g", "t", refused(ResponseError::NotCoordinator))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("committing group 'g' offset for t/2: "),
            "{e}"
        );
        assert!(e.invalidates_metadata());
    }

    #[test]
    fn a_fetch_request_waits_for_stable_offsets() {
        let request = build_offset_fetch_request("g", "t", &[0, 1]);
        assert!(request.require_stable);
        let topics = request.topics.unwrap();
        assert_eq!(topics[0].partition_indexes, [0, 1]);
    }
}

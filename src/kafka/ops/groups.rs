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
    ConsumerGroupDescribeRequest, DescribeGroupsRequest, GroupId, OffsetCommitRequest,
    OffsetFetchRequest,
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
            let key = ConsumerGroupDescribeRequest::KEY;
            let consumer = async {
                if !conn.supports(key, versions::CONSUMER_GROUP_DESCRIBE) {
                    return Ok(None);
                }
                conn.call(
                    ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]),
                    versions::CONSUMER_GROUP_DESCRIBE,
                )
                .await
                .map(Some)
            };
            let (response, described) = tokio::join!(classic, consumer);
            let response = response?;
            if let Some(described) = described? {
                for g in described.groups {
                    match ResponseError::try_from_code(g.error_code) {
                        // Not a consumer-protocol group (or none at all): DescribeGroups tells.
                        Some(ResponseError::GroupIdNotFound) => {}
                        Some(error) => {
                            let e = KafkaError::broker(
                                error,
                                Context::of(Operation::DescribeGroup).id(group),
                                None,
                            );
                            return Err(e);
                        }
                        None if !g.members.is_empty() => {
                            return Err(KafkaError::GroupInUse {
                                group: group.to_string(),
                                members: g.members.len(),
                                state: g.group_state.as_str().to_string(),
                            })
                        }
                        None => {}
                    }
                }
            }
            for g in response.groups {
                check(
                    g.error_code,
                    || Context::of(Operation::DescribeGroup).id(group),
                    g.error_message.as_ref().map(|m| m.as_str()),
                )?;
                if !g.members.is_empty() {
                    return Err(KafkaError::GroupInUse {
                        group: group.to_string(),
                        members: g.members.len(),
                        state: g.group_state.as_str().to_string(),
                    });
                }
            }
            Ok(())
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
        self.with_coordinator(CoordinatorKind::Group, group, deadline, |conn| async move {
            let request = OffsetFetchRequest::default()
                .with_group_id(group_id(group))
                .with_require_stable(true)
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(partitions.to_vec())]));
            let response = conn.call(request, versions::OFFSET_FETCH).await?;
            check(
                response.error_code,
                || Context::of(Operation::FetchGroupOffsets).id(group),
                None,
            )?;
            let mut out = Vec::with_capacity(partitions.len());
            for t in response.topics {
                for p in t.partitions {
                    check(
                        p.error_code,
                        || {
                            Context::of(Operation::FetchGroupOffsets)
                                .id(group)
                                .topic(topic)
                                .partition(p.partition_index)
                        },
                        None,
                    )?;
                    out.push((
                        p.partition_index,
                        (p.committed_offset >= 0).then_some(p.committed_offset),
                    ));
                }
            }
            Ok(out)
        })
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
        self.with_coordinator(CoordinatorKind::Group, group, deadline, |conn| async move {
            let request = OffsetCommitRequest::default()
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
                    )]);
            let response = conn.call(request, versions::OFFSET_COMMIT).await?;
            for t in response.topics {
                for p in t.partitions {
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
                            let e = KafkaError::broker(
                                error,
                                Context::of(Operation::CommitGroupOffsets)
                                    .id(group)
                                    .topic(topic)
                                    .partition(p.partition_index),
                                None,
                            );
                            return Err(e);
                        }
                    }
                }
            }
            Ok(())
        })
        .await
    }
}

//! Consumer groups as an administrator sees them: every group of the
//! cluster (ListGroups, asked of every broker, since each coordinates its
//! own), one group's state, type and members with their assignments
//! (DescribeGroups for classic groups, ConsumerGroupDescribe for KIP-848
//! consumer groups), and every offset it has committed (OffsetFetch).

use bytes::Buf;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerProtocolAssignment,
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
    OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::{Decodable, Request, StrBytes};
use tokio::time::Instant;

use super::super::cluster::{Cluster, CoordinatorKind};
use super::super::error::{check, Context, KafkaError, Operation, ResponseError};
use super::super::leader::timeout;
use super::super::versions;

/// A group of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group: String,
    /// Its state (`Stable`, `Empty`, ...).
    pub state: String,
    /// `classic` or `consumer` (KIP-848).
    pub kind: String,
}

/// A group described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group: String,
    /// Its state.
    pub state: String,
    /// `classic` or `consumer`.
    pub kind: String,
    /// Its live members.
    pub members: Vec<GroupMember>,
}

/// A live member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id.
    pub member: String,
    /// The client id it gave.
    pub client: String,
    /// The host it connected from.
    pub host: String,
    /// The partitions assigned to it, by topic and number.
    pub assignments: Vec<(String, i32)>,
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

/// The groups in one broker's ListGroups answer.
pub(super) fn read_list_groups_response(
    response: ListGroupsResponse,
) -> Result<Vec<GroupListing>, KafkaError> {
    check(
        response.error_code,
        || Context::of(Operation::ListGroups),
        None,
    )?;
    Ok(response
        .groups
        .into_iter()
        .map(|g| GroupListing {
            group: g.group_id.0.to_string(),
            state: g.group_state.to_string(),
            kind: match g.group_type.as_str() {
                "" => "classic".to_string(),
                other => other.to_ascii_lowercase(),
            },
        })
        .collect())
}

/// The partitions in a classic consumer's assignment bytes (Kafka's consumer
/// protocol); none for other protocols or bytes that are not one.
pub(super) fn decode_assignment(bytes: &[u8]) -> Vec<(String, i32)> {
    let mut buf = bytes;
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    match ConsumerProtocolAssignment::decode(&mut buf, version) {
        Ok(a) => a
            .assigned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The group in a DescribeGroups answer; `None` when the coordinator does
/// not know it (state `Dead`).
pub(super) fn read_classic_group(
    group: &str,
    response: DescribeGroupsResponse,
) -> Result<Option<GroupDescription>, KafkaError> {
    let Some(g) = response.groups.into_iter().next() else {
        return Ok(None);
    };
    match ResponseError::try_from_code(g.error_code) {
        None => {}
        // Not a group of the consumer protocol; or the broker's group
        // coordinator does not run that protocol (Kafka 3.7 to 3.9 offer the
        // call but refuse it unless the protocol is enabled): a classic group.
        Some(ResponseError::GroupIdNotFound | ResponseError::UnsupportedVersion) => {
            return Ok(None)
        }
        Some(e) => {
            let context = Context::of(Operation::DescribeGroup).id(group);
            return Err(KafkaError::broker(
                e,
                context,
                g.error_message.as_ref().map(|m| m.as_str()),
            ));
        }
    }
    if g.group_state.as_str() == "Dead" {
        return Ok(None);
    }
    let consumer = g.protocol_type.as_str() == "consumer" || g.protocol_type.is_empty();
    Ok(Some(GroupDescription {
        group: group.to_string(),
        state: g.group_state.to_string(),
        kind: "classic".to_string(),
        members: g
            .members
            .into_iter()
            .map(|m| GroupMember {
                member: m.member_id.to_string(),
                client: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignments: if consumer {
                    decode_assignment(&m.member_assignment)
                } else {
                    Vec::new()
                },
            })
            .collect(),
    }))
}

/// The group in a ConsumerGroupDescribe answer; `None` when it is not a
/// consumer group of the KIP-848 protocol.
pub(super) fn read_consumer_group(
    group: &str,
    response: ConsumerGroupDescribeResponse,
) -> Result<Option<GroupDescription>, KafkaError> {
    let Some(g) = response.groups.into_iter().next() else {
        return Ok(None);
    };
    match ResponseError::try_from_code(g.error_code) {
        None => {}
        // Not a group of the consumer protocol; or the broker's group
        // coordinator does not run that protocol (Kafka 3.7 to 3.9 offer the
        // call but refuse it unless the protocol is enabled): a classic group.
        Some(ResponseError::GroupIdNotFound | ResponseError::UnsupportedVersion) => {
            return Ok(None)
        }
        Some(e) => {
            let context = Context::of(Operation::DescribeGroup).id(group);
            return Err(KafkaError::broker(
                e,
                context,
                g.error_message.as_ref().map(|m| m.as_str()),
            ));
        }
    }
    Ok(Some(GroupDescription {
        group: group.to_string(),
        state: g.group_state.to_string(),
        kind: "consumer".to_string(),
        members: g
            .members
            .into_iter()
            .map(|m| GroupMember {
                member: m.member_id.to_string(),
                client: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignments: m
                    .assignment
                    .topic_partitions
                    .into_iter()
                    .flat_map(|t| {
                        let topic = t.topic_name.0.to_string();
                        t.partitions.into_iter().map(move |p| (topic.clone(), p))
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// Every committed offset of a group, by topic and partition.
pub(super) fn read_all_offsets(
    group: &str,
    response: OffsetFetchResponse,
) -> Result<Vec<(String, i32, i64)>, KafkaError> {
    let context = || Context::of(Operation::FetchGroupOffsets).id(group);
    check(response.error_code, context, None)?;
    let mut out = Vec::new();
    for t in response.topics {
        let topic = t.name.0.to_string();
        for p in t.partitions {
            check(
                p.error_code,
                || context().topic(&topic).partition(p.partition_index),
                None,
            )?;
            if p.committed_offset >= 0 {
                out.push((topic.clone(), p.partition_index, p.committed_offset));
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Cluster {
    /// Every group of the cluster, by id: one ListGroups per broker.
    pub async fn list_groups(&self, deadline: Instant) -> Result<Vec<GroupListing>, KafkaError> {
        self.ready(deadline).await?;
        let calls = self.known_brokers().into_iter().map(|broker| async move {
            let conn = broker.control.get(deadline).await?;
            let version = if conn.supports(ListGroupsRequest::KEY, versions::LIST_GROUPS) {
                versions::LIST_GROUPS
            } else {
                versions::LIST_GROUPS_WITHOUT_TYPES
            };
            let response =
                timeout(deadline, conn.call(ListGroupsRequest::default(), version)).await?;
            read_list_groups_response(response)
        });
        let mut groups = Vec::new();
        for answer in futures_util::future::join_all(calls).await {
            groups.extend(answer?);
        }
        groups.sort_by(|a, b| a.group.cmp(&b.group));
        groups.dedup_by(|a, b| a.group == b.group);
        Ok(groups)
    }

    /// `group` described by its coordinator; `None` when Kafka does not know it.
    pub async fn describe_group(
        &self,
        group: &str,
        deadline: Instant,
    ) -> Result<Option<GroupDescription>, KafkaError> {
        self.with_coordinator(CoordinatorKind::Group, group, deadline, |conn| async move {
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
            if let Some(consumer) = consumer? {
                if let Some(described) = read_consumer_group(group, consumer)? {
                    return Ok(Some(described));
                }
            }
            read_classic_group(group, classic?)
        })
        .await
    }

    /// Every offset `group` has committed, by topic and partition.
    pub async fn all_committed_offsets(
        &self,
        group: &str,
        deadline: Instant,
    ) -> Result<Vec<(String, i32, i64)>, KafkaError> {
        let request = OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_require_stable(true)
            .with_topics(None);
        let read = |response| read_all_offsets(group, response);
        self.ask_coordinator(
            CoordinatorKind::Group,
            group,
            deadline,
            request,
            versions::OFFSET_FETCH,
            read,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::describe_groups_response::{
        DescribedGroup, DescribedGroupMember,
    };
    use kafka_protocol::messages::list_groups_response::ListedGroup;
    use kafka_protocol::protocol::Encodable;

    use super::*;
    use crate::kafka::ops::topic_name;

    fn assignment_bytes(version: i16, topics: &[(&str, &[i32])]) -> bytes::Bytes {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
            topics
                .iter()
                .map(|(t, ps)| {
                    TopicPartition::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps.to_vec())
                })
                .collect(),
        );
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(version);
        assignment.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn a_classic_consumers_assignment_is_decoded_from_its_bytes() {
        for version in 0..=3 {
            let bytes = assignment_bytes(version, &[("a", &[0, 2]), ("b", &[1])]);
            assert_eq!(
                decode_assignment(&bytes),
                vec![("a".into(), 0), ("a".into(), 2), ("b".into(), 1)],
                "version {version}"
            );
        }
        assert!(decode_assignment(&[0, 1, 2]).is_empty());
        assert!(decode_assignment(&[]).is_empty());
    }

    #[test]
    fn a_dead_classic_group_is_unknown_and_a_live_one_has_its_members() {
        let response = |state: &'static str, members| {
            DescribeGroupsResponse::default().with_groups(vec![DescribedGroup::default()
                .with_group_state(StrBytes::from_static_str(state))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_members(members)])
        };
        assert_eq!(
            read_classic_group("g", response("Dead", vec![])).unwrap(),
            None
        );
        let member = DescribedGroupMember::default()
            .with_member_id(StrBytes::from_static_str("m-1"))
            .with_client_id(StrBytes::from_static_str("c"))
            .with_client_host(StrBytes::from_static_str("/127.0.0.1"))
            .with_member_assignment(assignment_bytes(1, &[("t", &[3])]));
        let described = read_classic_group("g", response("Stable", vec![member]))
            .unwrap()
            .unwrap();
        assert_eq!(described.kind, "classic");
        assert_eq!(described.members[0].assignments, vec![("t".to_string(), 3)]);
    }

    #[test]
    fn a_group_the_broker_refuses_to_describe_as_a_consumer_protocol_one_is_classic() {
        use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
        let refused = |error: ResponseError| {
            ConsumerGroupDescribeResponse::default()
                .with_groups(vec![DescribedGroup::default().with_error_code(error.code())])
        };
        // Kafka 3.9 without the consumer protocol enabled: UNSUPPORTED_VERSION,
        // and the classic description is the group's.
        let unsupported = refused(ResponseError::UnsupportedVersion);
        assert_eq!(read_consumer_group("g", unsupported).unwrap(), None);
        let unknown = refused(ResponseError::GroupIdNotFound);
        assert_eq!(read_consumer_group("g", unknown).unwrap(), None);
        let denied = refused(ResponseError::GroupAuthorizationFailed);
        assert!(read_consumer_group("g", denied).is_err());
    }

    #[test]
    fn listed_groups_say_their_type_and_classic_when_the_broker_does_not() {
        let response = ListGroupsResponse::default().with_groups(vec![
            ListedGroup::default()
                .with_group_id(group_id("a"))
                .with_group_state(StrBytes::from_static_str("Stable"))
                .with_group_type(StrBytes::from_static_str("Consumer")),
            ListedGroup::default()
                .with_group_id(group_id("b"))
                .with_group_state(StrBytes::from_static_str("Empty")),
        ]);
        let groups = read_list_groups_response(response).unwrap();
        assert_eq!(groups[0].kind, "consumer");
        assert_eq!(groups[1].kind, "classic");
    }
}

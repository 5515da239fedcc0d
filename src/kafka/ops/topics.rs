//! Topics as an administrator sees them: every partition's leader, leader
//! epoch and replicas (Metadata), the topic's own configs (DescribeConfigs),
//! and deleting a topic (DeleteTopics). Creating one is in [`super::admin`].

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::super::cluster::Cluster;
use super::super::error::{check, Context, KafkaError, Operation, ResponseError};
use super::super::leader::ms_until;
use super::super::versions;
use super::topic_name;

/// DescribeConfigs resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// DescribeConfigs source of a value set on the topic itself.
#[cfg(test)]
const TOPIC_CONFIG_SOURCE: i8 = 1;
/// DescribeConfigs source of a value that is Kafka's own default.
const DEFAULT_CONFIG_SOURCE: i8 = 5;

/// A topic and where each of its partitions lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLayout {
    /// The topic's name.
    pub name: String,
    /// Whether Kafka keeps it for itself (`__consumer_offsets`, ...).
    pub internal: bool,
    /// Partitions by number.
    pub partitions: Vec<PartitionLayout>,
}

/// A partition's leader and replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLayout {
    /// Partition number.
    pub partition: i32,
    /// The leader's broker id; `None` while it has none (offline).
    pub leader: Option<i32>,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// Broker ids of every replica.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub isr: Vec<i32>,
    /// Broker ids of replicas that are offline.
    pub offline: Vec<i32>,
}

/// A Metadata request for `topics` (`None`: every topic), never creating one.
pub(super) fn build_layout_request(topics: Option<&[&str]>) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect()
        }))
        .with_allow_auto_topic_creation(false)
}

/// Each topic of the answer, sorted by name; a topic asked for by name that
/// the brokers don't know is an [`KafkaError::UnknownTopic`].
pub(super) fn read_layout_response(
    response: &MetadataResponse,
) -> Result<Vec<TopicLayout>, KafkaError> {
    let mut topics = Vec::with_capacity(response.topics.len());
    for t in &response.topics {
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        match ResponseError::try_from_code(t.error_code) {
            None => {}
            Some(ResponseError::UnknownTopicOrPartition) => {
                return Err(KafkaError::UnknownTopic(name))
            }
            Some(e) => {
                let context = Context::of(Operation::Metadata).topic(&name);
                return Err(KafkaError::broker(e, context, None));
            }
        }
        let ids =
            |nodes: &[kafka_protocol::messages::BrokerId]| nodes.iter().map(|b| b.0).collect();
        let mut partitions: Vec<PartitionLayout> = t
            .partitions
            .iter()
            .map(|p| PartitionLayout {
                partition: p.partition_index,
                leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                leader_epoch: p.leader_epoch,
                replicas: ids(&p.replica_nodes),
                isr: ids(&p.isr_nodes),
                offline: ids(&p.offline_replicas),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        topics.push(TopicLayout {
            name,
            internal: t.is_internal,
            partitions,
        });
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

/// A DescribeConfigs request for every config of `topic`.
pub(super) fn build_topic_configs_request(topic: &str) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
        .with_resource_type(TOPIC_RESOURCE)
        .with_resource_name(StrBytes::from_string(topic.to_string()))
        .with_configuration_keys(None)])
}

/// The configs whose values are not Kafka's defaults: set on the topic, or
/// on its brokers (as `TopicCommand --describe` lists them), by name; a
/// sensitive value is `None`.
pub(super) fn read_topic_configs_response(
    topic: &str,
    response: DescribeConfigsResponse,
) -> Result<Vec<(String, Option<String>)>, KafkaError> {
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| KafkaError::Protocol("empty DescribeConfigs response".into()))?;
    if result.error_code == ResponseError::UnknownTopicOrPartition.code() {
        return Err(KafkaError::UnknownTopic(topic.to_string()));
    }
    check(
        result.error_code,
        || Context::of(Operation::DescribeTopic).topic(topic),
        result.error_message.as_ref().map(|m| m.as_str()),
    )?;
    let mut configs: Vec<(String, Option<String>)> = result
        .configs
        .into_iter()
        .filter(|c| c.config_source != DEFAULT_CONFIG_SOURCE)
        .map(|c| {
            let value = (!c.is_sensitive)
                .then(|| c.value.map(|v| v.to_string()))
                .flatten();
            (c.name.to_string(), value)
        })
        .collect();
    configs.sort();
    Ok(configs)
}

/// A DeleteTopics request for `topic`.
pub(super) fn build_delete_topic_request(topic: &str, timeout_ms: i32) -> DeleteTopicsRequest {
    DeleteTopicsRequest::default()
        .with_topic_names(vec![topic_name(topic)])
        .with_timeout_ms(timeout_ms)
}

/// The broker's refusal, if it refused.
pub(super) fn read_delete_topic_response(
    topic: &str,
    response: DeleteTopicsResponse,
) -> Result<(), KafkaError> {
    for r in response.responses {
        if r.error_code == ResponseError::UnknownTopicOrPartition.code() {
            return Err(KafkaError::UnknownTopic(topic.to_string()));
        }
        check(
            r.error_code,
            || Context::of(Operation::DeleteTopic).topic(topic),
            r.error_message.as_ref().map(|m| m.as_str()),
        )?;
    }
    Ok(())
}

impl Cluster {
    /// The layout of `topics` (`None`: every topic), in one Metadata call.
    pub async fn topic_layouts(
        &self,
        topics: Option<&[&str]>,
        deadline: Instant,
    ) -> Result<Vec<TopicLayout>, KafkaError> {
        let response = self
            .ask_any_broker(deadline, build_layout_request(topics), versions::METADATA)
            .await?;
        for b in &response.brokers {
            self.learn_broker(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
        }
        read_layout_response(&response)
    }

    /// The configs of `topic` that are not Kafka's defaults.
    pub async fn topic_configs(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Vec<(String, Option<String>)>, KafkaError> {
        let response = self
            .ask_any_broker(
                deadline,
                build_topic_configs_request(topic),
                versions::DESCRIBE_CONFIGS,
            )
            .await?;
        read_topic_configs_response(topic, response)
    }

    /// Deletes `topic`, and returns once the brokers no longer list it (they
    /// learn of a deletion a moment after the controller), so the next
    /// request finds it gone.
    pub async fn delete_topic(&self, topic: &str, deadline: Instant) -> Result<(), KafkaError> {
        let request = build_delete_topic_request(topic, ms_until(deadline));
        let deleted = self
            .on_controller(deadline, |conn| {
                let request = request.clone();
                async move {
                    let response = conn.call(request, versions::DELETE_TOPICS).await?;
                    read_delete_topic_response(topic, response)
                }
            })
            .await;
        self.invalidate(topic);
        deleted?;
        let mut backoff = std::time::Duration::from_millis(20);
        loop {
            match self.topic_layouts(Some(&[topic]), deadline).await {
                Err(KafkaError::UnknownTopic(_)) => break,
                Ok(_) | Err(_) if Instant::now() + backoff >= deadline => break,
                _ => {}
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_millis(200));
        }
        self.invalidate(topic);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
    use kafka_protocol::messages::describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use kafka_protocol::messages::metadata_response::{
        MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::BrokerId;

    use super::*;

    fn partition(
        index: i32,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
    ) -> MetadataResponsePartition {
        MetadataResponsePartition::default()
            .with_partition_index(index)
            .with_leader_id(BrokerId(leader))
            .with_leader_epoch(3)
            .with_replica_nodes(replicas.iter().map(|r| BrokerId(*r)).collect())
            .with_isr_nodes(isr.iter().map(|r| BrokerId(*r)).collect())
    }

    #[test]
    fn layouts_are_sorted_and_a_partition_without_leader_is_offline() {
        let topic = |name: &'static str, partitions| {
            MetadataResponseTopic::default()
                .with_name(Some(topic_name(name)))
                .with_partitions(partitions)
        };
        let response = MetadataResponse::default().with_topics(vec![
            topic(
                "b",
                vec![
                    partition(1, -1, &[2], &[]).with_offline_replicas(vec![BrokerId(2)]),
                    partition(0, 1, &[1, 2], &[1, 2]),
                ],
            ),
            topic("a", vec![]).with_is_internal(true),
        ]);
        let layouts = read_layout_response(&response).unwrap();
        assert_eq!(layouts[0].name, "a");
        assert!(layouts[0].internal);
        let b = &layouts[1];
        assert_eq!(b.partitions[0].leader, Some(1));
        assert_eq!(b.partitions[0].replicas, vec![1, 2]);
        assert_eq!(b.partitions[1].leader, None);
        assert_eq!(b.partitions[1].offline, vec![2]);
        assert_eq!(b.partitions[1].leader_epoch, 3);
    }

    #[test]
    fn an_unknown_topic_asked_by_name_is_unknown() {
        let response =
            MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(topic_name("gone")))
                .with_error_code(ResponseError::UnknownTopicOrPartition.code())]);
        assert!(matches!(
            read_layout_response(&response),
            Err(KafkaError::UnknownTopic(t)) if t == "gone"
        ));
    }

    #[test]
    fn only_configs_that_are_not_kafkas_defaults_are_kept_and_secrets_are_hidden() {
        let config = |name: &'static str, value: &'static str, source: i8, sensitive: bool| {
            DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(StrBytes::from_static_str(value)))
                .with_config_source(source)
                .with_is_sensitive(sensitive)
        };
        let response =
            DescribeConfigsResponse::default().with_results(vec![DescribeConfigsResult::default()
                .with_configs(vec![
                    config("retention.ms", "1000", TOPIC_CONFIG_SOURCE, false),
                    config("segment.bytes", "1073741824", DEFAULT_CONFIG_SOURCE, false),
                    config("log.roll.ms", "1000", 4, false),
                    config("cleanup.policy", "compact", TOPIC_CONFIG_SOURCE, false),
                    config("secret", "x", TOPIC_CONFIG_SOURCE, true),
                ])]);
        assert_eq!(
            read_topic_configs_response("t", response).unwrap(),
            vec![
                ("cleanup.policy".into(), Some("compact".into())),
                ("log.roll.ms".into(), Some("1000".into())),
                ("retention.ms".into(), Some("1000".into())),
                ("secret".into(), None),
            ]
        );
    }

    #[test]
    fn deleting_an_unknown_topic_is_unknown() {
        let response =
            DeleteTopicsResponse::default().with_responses(vec![DeletableTopicResult::default()
                .with_name(Some(topic_name("t")))
                .with_error_code(ResponseError::UnknownTopicOrPartition.code())]);
        assert!(matches!(
            read_delete_topic_response("t", response),
            Err(KafkaError::UnknownTopic(_))
        ));
        let request = build_delete_topic_request("t", 500);
        assert_eq!(request.topic_names[0].0.as_str(), "t");
        assert_eq!(request.timeout_ms, 500);
    }
}

//! Administrative calls: creating topics, reading a broker's configuration.

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::super::cluster::Cluster;
use super::super::error::{check, Context, KafkaError, Operation, ResponseError};
use super::super::leader::{ms_until, timeout};
use super::super::versions;
use super::topic_name;
use super::topics::build_layout_request;

/// DescribeConfigs resource type of a broker.
const BROKER_RESOURCE: i8 = 4;
/// DescribeConfigs resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// The topic setting bounding a record batch (its override, else the
/// broker's `message.max.bytes`: DescribeConfigs reports the value in force).
const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
/// The broker setting that says whether topics are created on first use.
const AUTO_CREATE: &str = "auto.create.topics.enable";

/// Why a created topic is not yet ready everywhere: not yet (wait), or a
/// failure that waiting does not mend.
enum Pending {
    Not(&'static str),
    Failed(KafkaError),
}

/// How many partitions `topic` has in a metadata answer, once it is known
/// there and each partition has a leader; not yet while it is unknown, has
/// partitions without a leader or a retriable error; a failure otherwise.
fn led_partitions(response: &MetadataResponse, topic: &str) -> Result<usize, Pending> {
    let t = response
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .ok_or(Pending::Not("the topic is not known yet"))?;
    match ResponseError::try_from_code(t.error_code) {
        None => {}
        Some(ResponseError::UnknownTopicOrPartition) => {
            return Err(Pending::Not("the topic is not known yet"))
        }
        Some(e) if e.is_retriable() => return Err(Pending::Not("a partition has no leader yet")),
        Some(e) => {
            let context = Context::of(Operation::Metadata).topic(topic);
            return Err(Pending::Failed(KafkaError::broker(e, context, None)));
        }
    }
    if t.partitions.iter().any(|p| p.leader_id.0 < 0) {
        return Err(Pending::Not("a partition has no leader yet"));
    }
    Ok(t.partitions.len())
}

/// A request creating `topic`.
pub(super) fn build_create_topic_request(
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
    timeout_ms: i32,
) -> CreateTopicsRequest {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    CreateTopicsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(configs)])
}

/// A request asking whether `topic` could be created with the brokers'
/// defaults, without creating it (`validate_only`).
pub(super) fn build_validate_topic_request(topic: &str, timeout_ms: i32) -> CreateTopicsRequest {
    build_create_topic_request(topic, -1, -1, &[], timeout_ms).with_validate_only(true)
}

/// What a validation of `topic`'s creation says: an error only when Kafka
/// will never create it (its name collides with an existing topic's, or is
/// invalid). Anything else (created meanwhile, not allowed to ask, not the
/// controller) says nothing about the broker's own auto-creation.
pub(super) fn read_validate_topic_response(
    topic: &str,
    response: CreateTopicsResponse,
) -> Result<(), KafkaError> {
    for t in response.topics {
        let message = t.error_message.as_ref().map(|m| m.as_str()).unwrap_or("");
        match ResponseError::try_from_code(t.error_code) {
            Some(ResponseError::InvalidTopicException) if message.contains("collides") => {
                return Err(KafkaError::TopicCollision {
                    topic: topic.to_string(),
                    message: message.to_string(),
                });
            }
            Some(error @ ResponseError::InvalidTopicException) => {
                let context = Context::of(Operation::CreateTopic).topic(topic);
                return Err(KafkaError::broker(error, context, Some(message)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// NOT_CONTROLLER, when a broker that is not the controller answered a
/// CreateTopics (in ZooKeeper mode only the controller validates names).
fn refused_by_non_controller(
    topic: &str,
    response: &CreateTopicsResponse,
) -> Result<(), KafkaError> {
    for t in &response.topics {
        if t.error_code == ResponseError::NotController.code() {
            let context = Context::of(Operation::CreateTopic).topic(topic);
            return Err(KafkaError::broker(
                ResponseError::NotController,
                context,
                None,
            ));
        }
    }
    Ok(())
}

/// The broker's refusal, with its own message, if it refused.
pub(super) fn read_create_topic_response(
    topic: &str,
    response: CreateTopicsResponse,
) -> Result<(), KafkaError> {
    for t in response.topics {
        check(
            t.error_code,
            || Context::of(Operation::CreateTopic).topic(topic),
            t.error_message.as_ref().map(|m| m.as_str()),
        )?;
    }
    Ok(())
}

/// Whether broker `id` creates topics on first use (unset: it does).
pub(super) fn read_auto_create(
    id: i32,
    response: DescribeConfigsResponse,
) -> Result<bool, KafkaError> {
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| KafkaError::Protocol("empty DescribeConfigs response".into()))?;
    check(
        result.error_code,
        || Context::of(Operation::DescribeBroker).broker(id),
        None,
    )?;
    Ok(result
        .configs
        .iter()
        .find(|c| c.name.as_str() == AUTO_CREATE)
        .and_then(|c| c.value.as_ref())
        .is_none_or(|v| v.as_str() == "true"))
}

/// The largest record batch `topic` accepts, in bytes, as DescribeConfigs
/// reports its `max.message.bytes`.
pub(super) fn read_max_message_bytes(
    topic: &str,
    response: DescribeConfigsResponse,
) -> Result<usize, KafkaError> {
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| KafkaError::Protocol("empty DescribeConfigs response".into()))?;
    check(
        result.error_code,
        || Context::of(Operation::DescribeTopic).topic(topic),
        result.error_message.as_ref().map(|m| m.as_str()),
    )?;
    let value = result
        .configs
        .iter()
        .find(|c| c.name.as_str() == MAX_MESSAGE_BYTES)
        .and_then(|c| c.value.as_ref())
        .ok_or_else(|| {
            KafkaError::Protocol(format!(
                "no {MAX_MESSAGE_BYTES} in the configs of topic '{topic}'"
            ))
        })?;
    value
        .as_str()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            KafkaError::Protocol(format!(
                "{MAX_MESSAGE_BYTES} of topic '{topic}' is not a size: '{}'",
                value.as_str()
            ))
        })
}

impl Cluster {
    /// Asks any broker for the `max.message.bytes` in force for `topic` (an
    /// override, else the broker's `message.max.bytes`).
    pub(in super::super) async fn describe_max_message_bytes(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<usize, KafkaError> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(StrBytes::from_string(topic.to_string()))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str(MAX_MESSAGE_BYTES)])),
        ]);
        let response = self
            .ask_any_broker(deadline, request, versions::DESCRIBE_CONFIGS)
            .await?;
        read_max_message_bytes(topic, response)
    }

    /// Creates a topic (an administrative call used by tests, benchmarks and tools).
    pub async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        let request = build_create_topic_request(
            topic,
            partitions,
            replication_factor,
            configs,
            ms_until(deadline),
        );
        self.on_controller(deadline, |conn| {
            let request = request.clone();
            async move {
                let response = conn.call(request, versions::CREATE_TOPICS).await?;
                read_create_topic_response(topic, response)
            }
        })
        .await?;
        self.wait_for_leaders(topic, deadline).await
    }

    /// Waits until every partition of `topic` has a leader in the metadata
    /// of every broker, so the caller can use it at once whichever broker
    /// its next request asks. Brokers learn of a new topic a moment after
    /// the controller created it, each at its own pace (a broker of Kafka
    /// 2.8 that has not yet heard of it answers a request that may create
    /// topics by trying to create it again), so "not yet" is retried here
    /// until the deadline.
    async fn wait_for_leaders(&self, topic: &str, deadline: Instant) -> Result<(), KafkaError> {
        let mut backoff = Duration::from_millis(20);
        loop {
            let in_time = Instant::now() + backoff < deadline;
            match self.leaders_everywhere(topic, deadline).await {
                Ok(()) => return Ok(()),
                Err(Pending::Not(why)) if !in_time => {
                    return Err(KafkaError::broker(
                        ResponseError::LeaderNotAvailable,
                        Context::of(Operation::Leaders).topic(topic),
                        Some(why),
                    ))
                }
                Err(Pending::Not(_)) => {}
                Err(Pending::Failed(e)) => return Err(e),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
    }

    /// Whether every broker knows `topic` with a leader for each partition:
    /// one metadata answer names the brokers and the topic, then each broker
    /// it lists is asked. A listed broker that cannot be asked is passed
    /// over: it cannot serve the next request either.
    async fn leaders_everywhere(&self, topic: &str, deadline: Instant) -> Result<(), Pending> {
        self.invalidate(topic);
        let listed = self
            .metadata(Some(vec![topic]), false, deadline)
            .await
            .map_err(Pending::Failed)?;
        let partitions = led_partitions(&listed, topic)?;
        for id in listed.brokers.iter().map(|b| b.node_id.0) {
            let Ok(broker) = self.broker(id) else {
                continue;
            };
            let asked = async {
                let conn = broker.control.get(deadline).await?;
                let request = build_layout_request(Some(&[topic]));
                timeout(deadline, conn.call(request, versions::METADATA)).await
            };
            let Ok(response) = asked.await else {
                continue;
            };
            if led_partitions(&response, topic).ok() != Some(partitions) {
                return Err(Pending::Not("a broker has not heard of the topic yet"));
            }
        }
        Ok(())
    }

    /// Asks Kafka whether `topic` could be created (see
    /// [`read_validate_topic_response`]); a failure to ask says nothing.
    pub(in super::super) async fn check_creatable(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        let request = build_validate_topic_request(topic, ms_until(deadline));
        let asked = self
            .on_controller(deadline, |conn| {
                let request = request.clone();
                async move {
                    let response = conn.call(request, versions::CREATE_TOPICS).await?;
                    refused_by_non_controller(topic, &response)?;
                    Ok(response)
                }
            })
            .await;
        match asked {
            Ok(response) => read_validate_topic_response(topic, response),
            Err(e) => {
                tracing::debug!(topic, error = %e, "cannot ask whether the topic can be created");
                Ok(())
            }
        }
    }

    /// Asks a known broker whether it creates topics on first use.
    pub(in super::super) async fn describe_auto_create(
        &self,
        deadline: Instant,
    ) -> Result<bool, KafkaError> {
        let (id, broker) = self
            .any_broker()
            .ok_or_else(|| KafkaError::unreachable("no broker known"))?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(BROKER_RESOURCE)
                .with_resource_name(StrBytes::from_string(id.to_string()))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str(AUTO_CREATE)])),
        ]);
        let conn = broker.control.get(deadline).await?;
        let response = timeout(deadline, conn.call(request, versions::DESCRIBE_CONFIGS)).await?;
        read_auto_create(id, response)
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use kafka_protocol::ResponseError;

    use super::*;

    #[tokio::test]
    async fn a_created_topic_is_waited_for_until_every_broker_knows_it() {
        use crate::kafka::{ClusterConfig, FakeBroker, Script};
        // Broker 1 (the bootstrap) knows `t`, led by broker 2, which has
        // not heard of it for its first three metadata answers.
        let first = FakeBroker::start().await;
        let second = FakeBroker::start_node(2).await;
        first.set_leader(2, &second.addr);
        second.script(Script {
            unknown_topic_answers: 3,
            ..Script::default()
        });
        let cluster = Cluster::new(ClusterConfig {
            bootstrap: vec![first.addr.clone()],
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        cluster
            .wait_for_leaders("t", deadline)
            .await
            .expect("ready on both brokers");
        assert!(
            second.metadata_requests() > 3,
            "broker 2 was asked {} times, so it still did not know the topic",
            second.metadata_requests()
        );
    }

    #[test]
    fn a_create_request_carries_partitions_replicas_and_configs() {
        let request = build_create_topic_request("t", 3, 1, &[("cleanup.policy", "compact")], 1000);
        let topic = &request.topics[0];
        assert_eq!((topic.num_partitions, topic.replication_factor), (3, 1));
        assert_eq!(topic.configs[0].name.as_str(), "cleanup.policy");
        assert_eq!(topic.configs[0].value.as_ref().unwrap().as_str(), "compact");
    }

    #[test]
    fn a_refused_create_keeps_the_brokers_reason() {
        let response =
            CreateTopicsResponse::default().with_topics(vec![CreatableTopicResult::default()
                .with_error_code(ResponseError::TopicAlreadyExists.code())
                .with_error_message(Some(StrBytes::from_static_str("Topic 't' already exists.")))]);
        let e = read_create_topic_response("t", response).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "creating topic 't': {} (Topic 't' already exists.)",
                ResponseError::TopicAlreadyExists
            )
        );
    }

    #[test]
    fn a_topics_limit_is_its_max_message_bytes() {
        let answer = |code: i16, value: Option<&'static str>| {
            let configs = value
                .map(|v| {
                    vec![DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str(MAX_MESSAGE_BYTES))
                        .with_value(Some(StrBytes::from_static_str(v)))]
                })
                .unwrap_or_default();
            DescribeConfigsResponse::default().with_results(vec![DescribeConfigsResult::default()
                .with_error_code(code)
                .with_configs(configs)])
        };
        assert_eq!(
            read_max_message_bytes("t", answer(0, Some("10000"))).unwrap(),
            10000
        );
        assert!(read_max_message_bytes("t", answer(0, Some("x"))).is_err());
        assert!(read_max_message_bytes("t", answer(0, None)).is_err());
        let refused = ResponseError::TopicAuthorizationFailed.code();
        let e = read_max_message_bytes("t", answer(refused, None)).unwrap_err();
        assert!(e.to_string().starts_with("describing topic 't': "), "{e}");
    }

    #[test]
    fn a_validation_refuses_only_names_kafka_will_never_create() {
        let request = build_validate_topic_request("a_b", 1000);
        assert!(request.validate_only);
        let topic = &request.topics[0];
        assert_eq!((topic.num_partitions, topic.replication_factor), (-1, -1));
        let answer = |code: ResponseError, message: &'static str| {
            CreateTopicsResponse::default().with_topics(vec![CreatableTopicResult::default()
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_static_str(message)))])
        };
        let e = read_validate_topic_response(
            "a_b",
            answer(
                ResponseError::InvalidTopicException,
                "Topic 'a_b' collides with existing topic: a.b",
            ),
        )
        .unwrap_err();
        assert!(matches!(e, KafkaError::TopicCollision { .. }), "{e}");
        assert!(
            e.to_string().contains("collides with existing topic: a.b"),
            "{e}"
        );
        for fine in [
            ResponseError::TopicAlreadyExists,
            ResponseError::TopicAuthorizationFailed,
            ResponseError::NotController,
        ] {
            assert!(read_validate_topic_response("a_b", answer(fine, "")).is_ok());
        }
        assert!(read_validate_topic_response("a_b", CreateTopicsResponse::default()).is_ok());
    }

    #[test]
    fn auto_creation_is_on_unless_the_broker_says_false() {
        let answer = |value: Option<&'static str>| {
            let configs = value
                .map(|v| {
                    vec![DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str(AUTO_CREATE))
                        .with_value(Some(StrBytes::from_static_str(v)))]
                })
                .unwrap_or_default();
            DescribeConfigsResponse::default()
                .with_results(vec![DescribeConfigsResult::default().with_configs(configs)])
        };
        assert!(read_auto_create(1, answer(Some("true"))).unwrap());
        assert!(!read_auto_create(1, answer(Some("false"))).unwrap());
        assert!(read_auto_create(1, answer(None)).unwrap());
        assert!(read_auto_create(1, DescribeConfigsResponse::default()).is_err());
    }
}

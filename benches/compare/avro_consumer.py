#!/usr/bin/env python3
"""The Python side of the benchmark's Avro read (benches/compare/avro.rs):
confluent-kafka's Consumer with its AvroDeserializer, reading a topic's first
COUNT records of partition 0 and decoding each value, ROUNDS times, each
round on a fresh consumer and a fresh deserializer, all with one registry
client (as an application holds one: it keeps schemas by id).

    avro_consumer.py BOOTSTRAP REGISTRY TOPIC COUNT ROUNDS

Prints one JSON line: {"rates": [records/s of each round]}, each from the
assignment to the COUNT-th value decoded (the interpreter's start and the
imports are not counted). The versions are the ones scripts/test.sh pins.
"""

import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main():
    bootstrap, registry_url, topic, count, rounds = sys.argv[1:6]
    count, rounds = int(count), int(rounds)
    registry = SchemaRegistryClient({"url": registry_url})
    rates = []
    for r in range(rounds):
        deser = AvroDeserializer(registry)
        consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-avro-{r}",
            "enable.auto.commit": False,
        })
        ctx = SerializationContext(topic, MessageField.VALUE)
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = 0
        while got < count:
            msgs = consumer.consume(num_messages=1000, timeout=10.0)
            if not msgs:
                sys.exit(f"only {got} of {count} records within 10 s")
            for msg in msgs:
                if msg.error():
                    sys.exit(f"consume: {msg.error()}")
                value = deser(msg.value(), ctx)
                assert value is not None
                got += 1
        rates.append(got / (time.perf_counter() - started))
        consumer.close()
    print(json.dumps({"rates": rates}))


if __name__ == "__main__":
    main()

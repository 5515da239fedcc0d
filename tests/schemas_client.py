#!/usr/bin/env python3
"""Confluent's own Avro serializers, for tests/schemas.rs: writes and reads
records with confluent-kafka's AvroSerializer and AvroDeserializer against the
same broker and Schema Registry as the service.

    schemas_client.py produce BOOTSTRAP REGISTRY TOPIC   < lines
        each line {"key": K, "value": V, "keySchema": S?, "valueSchema": S?}:
        a key or value with a schema is written with AvroSerializer (schema
        text S, registered under TOPIC-key / TOPIC-value), one without as
        UTF-8 text (null stays null). Prints each value's schema id.
    schemas_client.py consume BOOTSTRAP REGISTRY TOPIC COUNT KEYFMT VALUEFMT
        reads COUNT records from the beginning of partition 0; KEYFMT and
        VALUEFMT are avro or string. Prints one JSON line per record:
        {"key": ..., "value": ...}.

Values cross as tagged JSON, since Avro has types JSON lacks:
{"$bytes": "<hex>"} for bytes and fixed, {"$decimal": "12.34"} for decimals,
{"$ms": n} for timestamp-millis (a datetime in Python), {"$days": n} for date.
"""

import datetime
import decimal
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def untag(v):
    if isinstance(v, dict):
        if set(v) == {"$bytes"}:
            return bytes.fromhex(v["$bytes"])
        if set(v) == {"$decimal"}:
            return decimal.Decimal(v["$decimal"])
        if set(v) == {"$ms"}:
            return EPOCH + datetime.timedelta(milliseconds=v["$ms"])
        if set(v) == {"$days"}:
            return datetime.date(1970, 1, 1) + datetime.timedelta(days=v["$days"])
        return {k: untag(x) for k, x in v.items()}
    if isinstance(v, list):
        return [untag(x) for x in v]
    return v


def tag(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, decimal.Decimal):
        return {"$decimal": str(v)}
    if isinstance(v, datetime.datetime):
        return {"$ms": round((v - EPOCH).total_seconds() * 1000)}
    if isinstance(v, datetime.date):
        return {"$days": (v - datetime.date(1970, 1, 1)).days}
    if isinstance(v, dict):
        return {k: tag(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [tag(x) for x in v]
    return v


def produce(bootstrap, registry_url, topic):
    registry = SchemaRegistryClient({"url": registry_url})
    producer = Producer({"bootstrap.servers": bootstrap})
    for line in sys.stdin:
        if not line.strip():
            continue
        rec = json.loads(line)
        out = {}
        for field, mf in (("key", MessageField.KEY), ("value", MessageField.VALUE)):
            v = rec.get(field)
            schema = rec.get(field + "Schema")
            if v is None:
                out[field] = None
            elif schema is not None:
                ser = AvroSerializer(registry, json.dumps(schema) if not isinstance(schema, str) else schema)
                out[field] = ser(untag(v), SerializationContext(topic, mf))
            else:
                out[field] = v.encode() if isinstance(v, str) else json.dumps(v).encode()
        producer.produce(topic, key=out["key"], value=out["value"], partition=0)
        value = out["value"]
        print(json.dumps({"valueSchemaId": int.from_bytes(value[1:5], "big") if value and rec.get("valueSchema") is not None else None}))
    if producer.flush(30) != 0:
        sys.exit("produce: records not delivered")


def consume(bootstrap, registry_url, topic, count, key_fmt, value_fmt):
    registry = SchemaRegistryClient({"url": registry_url})
    deser = AvroDeserializer(registry)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "schemas-client",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    while got < count:
        if datetime.datetime.now() > deadline:
            sys.exit(f"consume: only {got} of {count} records within 60 s")
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            sys.exit(f"consume: {msg.error()}")
        out = {}
        for field, fmt, mf, raw in (
            ("key", key_fmt, MessageField.KEY, msg.key()),
            ("value", value_fmt, MessageField.VALUE, msg.value()),
        ):
            if raw is None:
                out[field] = None
            elif fmt == "avro":
                out[field] = tag(deser(raw, SerializationContext(topic, mf)))
            else:
                out[field] = raw.decode()
        print(json.dumps(out), flush=True)
        got += 1
    consumer.close()


def main():
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(*sys.argv[2:5])
    elif cmd == "consume":
        bootstrap, registry_url, topic, count, key_fmt, value_fmt = sys.argv[2:8]
        consume(bootstrap, registry_url, topic, int(count), key_fmt, value_fmt)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()

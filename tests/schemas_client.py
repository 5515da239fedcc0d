#!/usr/bin/env python3
"""Confluent's own Schema Registry serializers, for tests/schemas.rs: writes
and reads records with confluent-kafka's AvroSerializer, ProtobufSerializer and
JSONSerializer and their deserializers against the same broker and Schema
Registry as the service.

    schemas_client.py produce BOOTSTRAP REGISTRY TOPIC   < lines
        each line {"key": K, "value": V, "keySchema": S?, "valueSchema": S?,
        "valueFormat": F?, ...}: a key or value with a schema is written with
        the serializer of format F (avro, the default; protobuf; jsonschema),
        registered under TOPIC-key / TOPIC-value; one without as UTF-8 text
        (null stays null). Prints each value's schema id and bytes (hex).
        - avro: S is the schema (text or JSON).
        - protobuf: S is {"files": {NAME: PROTO_TEXT}, "file": NAME,
          "message": FULL_NAME}; the files are compiled with protoc (from
          grpcio-tools) and V, in the proto3 JSON mapping, becomes that
          message. Imports are registered under their file names, as the
          serializer does.
        - jsonschema: S is the JSON Schema; "valueReferences" (or
          "keyReferences") [{"name", "subject", "schema"}] are registered
          first and referenced by name.
    schemas_client.py consume BOOTSTRAP REGISTRY TOPIC COUNT KEYFMT VALUEFMT
        reads COUNT records from the beginning of partition 0; KEYFMT and
        VALUEFMT are avro, protobuf, jsonschema or string. For protobuf the
        first line of stdin is {"key": S?, "value": S?} with S as above,
        naming the message class. Prints one JSON line per record:
        {"key": ..., "value": ...}, Protobuf messages in the proto3 JSON
        mapping (protobuf's json_format.MessageToDict).

Protobuf: Apicurio answers GET /schemas/ids/N?format=serialized (which the
ProtobufDeserializer asks for the writer's schema) with raw bytes where
Confluent's registry gives base64, so the deserializer is given the message
class and no registry; it still reads Confluent's framing (magic byte, schema
id, message indexes) itself.

Values cross as tagged JSON, since Avro has types JSON lacks:
{"$bytes": "<hex>"} for bytes and fixed, {"$decimal": "12.34"} for decimals,
{"$ms": n} for timestamp-millis (a datetime in Python), {"$days": n} for date.
"""

import datetime
import decimal
import json
import os
import sys
import tempfile

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
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


_protobuf_classes = {}


def protobuf_class(spec):
    """The message class of {"files", "file", "message"}, compiled with protoc."""
    key = json.dumps(spec, sort_keys=True)
    if key in _protobuf_classes:
        return _protobuf_classes[key]
    import grpc_tools
    from grpc_tools import protoc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    with tempfile.TemporaryDirectory() as d:
        for name, text in spec["files"].items():
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        out = os.path.join(d, "set.pb")
        include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        rc = protoc.main(["protoc", "-I" + d, "-I" + include, "--include_imports",
                          "--descriptor_set_out=" + out, os.path.join(d, spec["file"])])
        if rc != 0:
            sys.exit(f"protoc failed on {spec['file']}")
        files = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for proto in files.file:
        pool.Add(proto)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(spec["message"]))
    _protobuf_classes[key] = cls
    return cls


def serializer(registry, fmt, schema, rec, field):
    if fmt == "protobuf":
        return ProtobufSerializer(protobuf_class(schema), registry, {"use.deprecated.format": False})
    text = json.dumps(schema) if not isinstance(schema, str) else schema
    if fmt == "jsonschema":
        refs = []
        for ref in rec.get(field + "References") or []:
            ref_text = json.dumps(ref["schema"])
            registry.register_schema(ref["subject"], Schema(ref_text, "JSON"))
            version = registry.lookup_schema(ref["subject"], Schema(ref_text, "JSON")).version
            refs.append(SchemaReference(ref["name"], ref["subject"], version))
        return JSONSerializer(Schema(text, "JSON", refs), registry)
    return AvroSerializer(registry, text)


def registry_client(url):
    """The registry's client, with a timeout on each request: without one
    (the client's default) a request the registry never answers waits for
    ever, with one the client retries it as it retries other transport
    errors (max.retries, with backoff)."""
    return SchemaRegistryClient({"url": url, "timeout": 20})


def produce(bootstrap, registry_url, topic):
    from google.protobuf import json_format

    registry = registry_client(registry_url)
    producer = Producer({"bootstrap.servers": bootstrap})
    for line in sys.stdin:
        if not line.strip():
            continue
        rec = json.loads(line)
        out = {}
        for field, mf in (("key", MessageField.KEY), ("value", MessageField.VALUE)):
            v = rec.get(field)
            schema = rec.get(field + "Schema")
            fmt = rec.get(field + "Format", "avro")
            if v is None:
                out[field] = None
            elif schema is not None:
                ser = serializer(registry, fmt, schema, rec, field)
                if fmt == "protobuf":
                    v = json_format.ParseDict(v, protobuf_class(schema)())
                elif fmt == "avro":
                    v = untag(v)
                out[field] = ser(v, SerializationContext(topic, mf))
            else:
                out[field] = v.encode() if isinstance(v, str) else json.dumps(v).encode()
        producer.produce(topic, key=out["key"], value=out["value"], partition=0)
        value = out["value"]
        print(json.dumps({
            "valueSchemaId": int.from_bytes(value[1:5], "big") if value and rec.get("valueSchema") is not None else None,
            "valueHex": value.hex() if value is not None else None,
            "keyHex": out["key"].hex() if out["key"] is not None else None,
        }))
    if producer.flush(30) != 0:
        sys.exit("produce: records not delivered")


def consume(bootstrap, registry_url, topic, count, key_fmt, value_fmt):
    from google.protobuf import json_format

    registry = registry_client(registry_url)
    deser = AvroDeserializer(registry)
    json_deser = JSONDeserializer(None, schema_registry_client=registry)
    specs = json.loads(sys.stdin.readline() or "{}") if "protobuf" in (key_fmt, value_fmt) else {}
    proto_deser = {
        field: ProtobufDeserializer(protobuf_class(spec), {"use.deprecated.format": False})
        for field, spec in specs.items() if spec is not None
    }
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
            elif fmt == "jsonschema":
                out[field] = json_deser(raw, SerializationContext(topic, mf))
            elif fmt == "protobuf":
                msg = proto_deser[field](raw, SerializationContext(topic, mf))
                out[field] = json_format.MessageToDict(msg)
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

#!/usr/bin/env bash
# Confluent's Python client at the versions the project pins, installed from
# PyPI when they are not there: run by scripts/test.sh (tests/schemas.rs
# through tests/schemas_client.py) and scripts/bench.sh (the Avro read beside
# benches/compare/avro_consumer.py).
set -euo pipefail

# Confluent's own Avro, Protobuf and JSON Schema serializers (librdkafka with
# the Schema Registry client), used by tests/schemas.rs through
# tests/schemas_client.py; grpcio-tools' protoc compiles the test's .proto
# files into the message classes the Protobuf serializer needs.
if ! python3 -m pip show confluent-kafka 2>/dev/null | grep -qx 'Version: 2.16.1' ||
   ! python3 -m pip show protobuf 2>/dev/null | grep -qx 'Version: 7.36.2' ||
   ! python3 -m pip show grpcio-tools 2>/dev/null | grep -qx 'Version: 1.85.1' ||
   ! python3 -c 'import fastavro, jsonschema, grpc_tools.protoc, confluent_kafka.schema_registry.avro, confluent_kafka.schema_registry.protobuf, confluent_kafka.schema_registry.json_schema' 2>/dev/null; then
  echo "confluent-kafka.sh: installing confluent-kafka[avro,json,protobuf,schemaregistry], protobuf and grpcio-tools from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check \
    'confluent-kafka[avro,json,protobuf,schemaregistry]==2.16.1' 'protobuf==7.36.2' \
    'googleapis-common-protos==1.76.0' 'jsonschema==4.26.0' 'grpcio-tools==1.85.1' >&2 ||
    { echo "confluent-kafka.sh: could not install confluent-kafka" >&2; exit 1; }
fi

"""A transaction held open until the test says so, written by Confluent's
Python client (librdkafka), an independent producer.

    python3 tests/open_transaction.py BOOTSTRAP TOPIC TRANSACTIONAL_ID COUNT

Writes COUNT records (values t0, t1, ...) to partition 0 in one transaction,
waits until the broker has acknowledged them all, prints `open`, then waits
for a line on stdin before it commits and prints `committed`.
"""

import sys

from confluent_kafka import Producer


def main() -> None:
    bootstrap, topic, transactional_id, count = sys.argv[1:5]
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": transactional_id}
    )
    producer.init_transactions(60)
    producer.begin_transaction()
    for i in range(int(count)):
        producer.produce(topic, value=f"t{i}".encode(), partition=0)
    if producer.flush(60) != 0:
        sys.exit("the records were not acknowledged within 60 s")
    print("open", flush=True)
    sys.stdin.readline()
    producer.commit_transaction(60)
    print("committed", flush=True)


if __name__ == "__main__":
    main()

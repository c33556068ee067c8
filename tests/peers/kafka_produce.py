"""Produces every line of an NDJSON file to a Kafka topic with confluent-kafka
(a client that is not ours), then prints how many were delivered."""
import sys

from confluent_kafka import Producer

brokers, topic, path = sys.argv[1], sys.argv[2], sys.argv[3]
producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "enable.idempotence": False})
delivered = 0
failed = []


def on_delivery(err, _msg):
    global delivered
    if err is None:
        delivered += 1
    else:
        failed.append(str(err))


with open(path, "rb") as f:
    for i, line in enumerate(f):
        line = line.rstrip(b"\n")
        while True:
            try:
                producer.produce(topic, value=line, key=str(i).encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
producer.flush(60)
if failed:
    sys.exit(f"delivery failed: {failed[:3]}")
print(delivered)

"""Produces every line of an NDJSON file to a Kafka topic with confluent-kafka
(a client that is not ours), then prints how many were delivered.

An optional fourth argument lists compression codecs (`none,gzip,snappy,lz4,zstd`):
the lines are split into that many runs, each sent by a producer using one codec."""
import sys

from confluent_kafka import Producer

brokers, topic, path = sys.argv[1], sys.argv[2], sys.argv[3]
codecs = sys.argv[4].split(",") if len(sys.argv) > 4 else ["none"]
delivered = 0
failed = []


def on_delivery(err, _msg):
    global delivered
    if err is None:
        delivered += 1
    else:
        failed.append(str(err))


with open(path, "rb") as f:
    lines = [line.rstrip(b"\n") for line in f]
run = -(-len(lines) // len(codecs))
producer = None
for i, line in enumerate(lines):
    if i % run == 0:
        if producer is not None:
            producer.flush(60)
        codec = codecs[i // run]
        producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "enable.idempotence": False, "compression.type": codec})
    while True:
        try:
            producer.produce(topic, value=line, key=str(i).encode(), on_delivery=on_delivery)
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)
if producer is not None:
    producer.flush(60)
if failed:
    sys.exit(f"delivery failed: {failed[:3]}")
print(delivered)

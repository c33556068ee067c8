"""As a peer of the group, prints, per partition of a topic, the group's committed
offset and the end of the partition as seen by reading it to the end (the next
offset after the last message, and how many messages it holds), as JSON.

The end is read rather than asked for because tansu 0.6 answers ListOffsets
(latest) with offsets that do not match the log."""
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition

brokers, topic, group, partitions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
peer = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
committed = {tp.partition: tp.offset for tp in peer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=20)}
peer.close()

reader = Consumer({"bootstrap.servers": brokers, "group.id": group + "-reader", "enable.auto.commit": False})
reader.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
count = {p: 0 for p in range(partitions)}
end = {p: 0 for p in range(partitions)}
idle_since = time.time()
while time.time() - idle_since < 3:
    m = reader.poll(0.2)
    if m is None or m.error():
        continue
    idle_since = time.time()
    count[m.partition()] += 1
    end[m.partition()] = m.offset() + 1
reader.close()
print(json.dumps([{"partition": p, "committed": committed[p], "end": end[p], "messages": count[p]} for p in range(partitions)]))

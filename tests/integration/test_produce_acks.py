"""Produce with acks 0 and 1 (the other tests use acks=all), and topic
auto-creation through Metadata when topics.auto_create is on.

- acks=0 and acks=1 with confluent-kafka: every record is stored, in order.
- acks=0 on a raw socket: the broker sends no Produce response at all (a
  client does not read one), so the next request's answer is the first
  frame back, and the record is still stored.
- Metadata for an unknown topic creates it with topics.default_partitions,
  for librdkafka's producer and for a raw Metadata v4 asking for it.
"""
import socket
import struct

import pytest
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.produce import ProduceRequest
from kafka.record.memory_records import MemoryRecordsBuilder

from helpers import (admin, api_versions_request, create_topic, high_watermarks,
                     produce_all, producer, read_all, recv_frame, unique)
from test_errors import kp_call

N = 300


@pytest.mark.parametrize("acks", ["0", "1"])
def test_acks_roundtrip(module_broker, acks):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("acks%s" % acks), 2)
    p = producer(b.bootstrap, **{"acks": acks, "linger.ms": 2})
    recs = [{"value": b"acks%s-%04d" % (acks.encode(), i), "partition": i % 2} for i in range(N)]
    log = produce_all(p, topic, recs)
    assert not log.failed
    got = read_all(b.bootstrap, topic, 2)
    for q in range(2):
        assert [m.value() for m in got[q]] == [r["value"] for r in recs if r["partition"] == q]
        assert [m.offset() for m in got[q]] == list(range(N // 2))


def test_acks_0_sends_no_response(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("acks0raw"), 1)
    mb = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    mb.append(timestamp=1_700_000_000_000, key=b"k", value=b"fire-and-forget", headers=[])
    mb.close()
    proto = KafkaProtocol(client_id="itest-raw")
    proto.send_request(ProduceRequest[3](transactional_id=None, required_acks=0, timeout=10000,
                                         topics=[(topic, [(0, mb.buffer())])]))
    produce = proto.send_bytes()
    host, port = b.bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(produce + api_versions_request(0, 42))
        resp = recv_frame(s)
        assert struct.unpack(">i", resp[:4])[0] == 42, "a response for the acks=0 Produce came back"
    assert high_watermarks(b.bootstrap, topic, 1)[0] == (0, 1)
    assert read_all(b.bootstrap, topic, 1)[0][0].value() == b"fire-and-forget"


def test_metadata_auto_creates_topics(broker_factory):
    b = broker_factory({"topics": {"auto_create": True, "default_partitions": 3}})
    # librdkafka's producer asks Metadata for the topic it produces to
    name = unique("auto")
    log = produce_all(producer(b.bootstrap, **{"acks": "all"}), name, [{"value": b"x%d" % i} for i in range(30)])
    assert not log.failed
    a = admin(b.bootstrap)
    assert len(a.list_topics(topic=name, timeout=10).topics[name].partitions) == 3
    assert sum(len(v) for v in read_all(b.bootstrap, name, 3).values()) == 30
    assert 'msg="auto-created topic"' in b.log_text()
    # a raw Metadata v4 asking for creation
    name2 = unique("auto-raw")
    r = kp_call(b.bootstrap, MetadataRequest[4](topics=[name2], allow_auto_topic_creation=True))
    topics = {t[1]: t for t in r.topics}
    assert topics[name2][0] == 0, r
    assert len(topics[name2][3]) == 3, r
    # and one not asking for it gets UNKNOWN_TOPIC_OR_PARTITION, nothing created
    name3 = unique("no-auto")
    r = kp_call(b.bootstrap, MetadataRequest[4](topics=[name3], allow_auto_topic_creation=False))
    assert {t[1]: t for t in r.topics}[name3][0] == 3, r
    assert name3 not in a.list_topics(timeout=10).topics

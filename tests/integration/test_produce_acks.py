"""Produce with acks 0 and 1 (the other tests use acks=all), and topic
auto-creation through Metadata when topics.auto_create is on.

- acks=0 and acks=1 with confluent-kafka: every record is stored, in order.
- acks=0 on a raw socket: the broker sends no Produce response at all (a
  client does not read one), so the next request's answer is the first
  frame back, and the record is still stored.
- Metadata for an unknown topic creates it with topics.default_partitions,
  for librdkafka's producer and for a raw Metadata v4 asking for it.
- The idempotent producer's sequence checks on the wire: a retried batch
  gets its original offset, a gap OUT_OF_ORDER_SEQUENCE_NUMBER.
"""
import socket
import struct
import time

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
    if acks == "0":
        # no response: "delivered" means sent, not yet stored; reading to the
        # high watermark at once could stop short of records still on the way
        deadline = time.monotonic() + 30
        while any(hw != N // 2 for _, hw in high_watermarks(b.bootstrap, topic, 2).values()):
            assert time.monotonic() < deadline, "acks=0 records never all stored: %s" % (
                high_watermarks(b.bootstrap, topic, 2),)
            time.sleep(0.1)
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


# ---- idempotent producer on the wire ----

OUT_OF_ORDER_SEQUENCE_NUMBER = 45


def init_producer_id(bootstrap):
    """InitProducerId v0 (no transactional id) -> (producer id, epoch)."""
    cid = b"itest"
    body = struct.pack(">hi", -1, 60000)
    req = struct.pack(">hhih", 22, 0, 9, len(cid)) + cid + body
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        resp = recv_frame(s)
    corr, _throttle, err, pid, epoch = struct.unpack(">iihqh", resp)
    assert corr == 9 and err == 0 and pid >= 0, (err, pid)
    return pid, epoch


def idem_batch(pid, epoch, seq, values):
    from kafka.record.default_records import DefaultRecordBatchBuilder
    bb = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=pid,
                                   producer_epoch=epoch, base_sequence=seq, batch_size=1 << 20)
    for i, v in enumerate(values):
        bb.append(i, timestamp=1_700_000_000_000 + i, key=None, value=v, headers=[])
    return bytes(bb.build())


def produce_raw(bootstrap, topic, batch):
    """Produce v3 acks=-1 of one batch to partition 0 -> (error code, base offset)."""
    r = kp_call(bootstrap, ProduceRequest[3](transactional_id=None, required_acks=-1, timeout=10000,
                                             topics=[(topic, [(0, batch)])]))
    (_, parts), = r.topics
    (_, err, base, *_rest), = parts
    return err, base


def test_idempotent_sequences_on_the_wire(module_broker):
    """A batch sent again (same producer, epoch and sequence) is answered
    with the offset it got the first time and not stored twice; a batch
    whose sequence leaves a gap gets OUT_OF_ORDER_SEQUENCE_NUMBER."""
    b = module_broker
    topic = create_topic(b.bootstrap, unique("idem-raw"), 1)
    pid, epoch = init_producer_id(b.bootstrap)
    first = idem_batch(pid, epoch, 0, [b"a", b"b", b"c"])
    assert produce_raw(b.bootstrap, topic, first) == (0, 0)
    assert produce_raw(b.bootstrap, topic, idem_batch(pid, epoch, 3, [b"d", b"e"])) == (0, 3)
    # the retry of the first batch: its original offset, nothing appended
    assert produce_raw(b.bootstrap, topic, first) == (0, 0)
    assert high_watermarks(b.bootstrap, topic, 1)[0] == (0, 5)
    # a gap (sequence 10 where 5 is next) is refused and not stored
    err, _ = produce_raw(b.bootstrap, topic, idem_batch(pid, epoch, 10, [b"gap"]))
    assert err == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce_raw(b.bootstrap, topic, idem_batch(pid, epoch, 5, [b"f"])) == (0, 5)
    assert [m.value() for m in read_all(b.bootstrap, topic, 1)[0]] == [b"a", b"b", b"c", b"d", b"e", b"f"]

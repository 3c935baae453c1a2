"""kafka-python 2.0.2 against a real broker: KafkaProducer / KafkaConsumer
round trip (assign + seek_to_beginning, no group) and KafkaAdminClient topic
creation and deletion."""
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from helpers import create_topic, unique

N = 800


def _consume(bootstrap, tps, expected, timeout=60):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=1000,
                      fetch_max_wait_ms=100)
    try:
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < expected:
            assert time.monotonic() < deadline, "kafka-python consumed %d of %d" % (len(out), expected)
            batch = c.poll(timeout_ms=500)
            for recs in batch.values():
                out.extend(recs)
        # nothing beyond what was produced
        extra = c.poll(timeout_ms=500)
        assert not any(extra.values()), "unexpected extra records: %s" % extra
        return out
    finally:
        c.close()


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_producer_consumer_roundtrip(module_broker, compression):
    b = module_broker
    partitions = 2
    topic = create_topic(b.bootstrap, unique("kp"), partitions)
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", linger_ms=5,
                      compression_type=compression, retries=3)
    futs = []
    sent = []
    for i in range(N):
        key = b"key-%d" % (i % 13)
        value = b"kafka-python-%05d-" % i + b"z" * (i % 300)
        hdrs = [("n", str(i).encode())]
        part = i % partitions
        futs.append(p.send(topic, value=value, key=key, headers=hdrs, partition=part,
                           timestamp_ms=1_600_000_000_000 + i))
        sent.append((part, key, value, hdrs, 1_600_000_000_000 + i))
    p.flush(timeout=60)
    metas = [f.get(timeout=30) for f in futs]
    p.close(timeout=10)
    for q in range(partitions):
        offs = [m.offset for m, s in zip(metas, sent) if s[0] == q]
        assert offs == list(range(len(offs))), "partition %d: acknowledged offsets %s..." % (q, offs[:10])

    recs = _consume(b.bootstrap, [TopicPartition(topic, q) for q in range(partitions)], N)
    assert len(recs) == N
    got = {q: [r for r in recs if r.partition == q] for q in range(partitions)}
    for q in range(partitions):
        want = [s for s in sent if s[0] == q]
        assert [r.offset for r in got[q]] == list(range(len(want)))
        for r, s in zip(got[q], want):
            assert (r.key, r.value, list(r.headers), r.timestamp) == (s[1], s[2], s[3], s[4])


def test_admin_create_delete(module_broker):
    b = module_broker
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
    try:
        name = unique("kpa")
        a.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
        c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None)
        try:
            deadline = time.monotonic() + 30
            while c.partitions_for_topic(name) != {0, 1, 2}:
                assert time.monotonic() < deadline, "topic %s not visible with 3 partitions" % name
                time.sleep(0.2)
                c.topics()  # forces a metadata refresh
        finally:
            c.close()
        assert name in a.list_topics()
        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        a.delete_topics([name])
        deadline = time.monotonic() + 30
        while name in a.list_topics():
            assert time.monotonic() < deadline, "deleted topic still listed"
            time.sleep(0.2)
    finally:
        a.close()

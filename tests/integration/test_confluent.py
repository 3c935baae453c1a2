"""confluent-kafka-python (librdkafka 2.0.2) against a real broker: acks=all
with every compression codec, the idempotent producer, ListOffsets by
timestamp, max.message.bytes enforcement, and the AdminClient APIs."""
import random
import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, KafkaError, KafkaException,
                             TopicPartition)
from confluent_kafka.admin import (ConfigResource, ConfigSource, NewPartitions,
                                   NewTopic)

from helpers import (admin, consumer, create_topic, produce_all, producer,
                     read_all, read_partitions, unique, wait_topic)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def make_records(n, partitions, seed):
    rnd = random.Random(seed)
    recs = []
    for i in range(n):
        # mix of compressible and random payloads, some with null keys
        if i % 3 == 0:
            value = ("msg-%d " % i).encode() * rnd.randint(1, 40)
        else:
            value = b"msg-%d:" % i + rnd.randbytes(rnd.randint(0, 600))
        key = None if i % 5 == 0 else b"k%d" % (i % 17)
        hdrs = [("i", str(i).encode()), ("h2", b"\x00\x01binary")] if i % 4 == 0 else None
        recs.append({"value": value, "key": key, "partition": i % partitions, "headers": hdrs})
    return recs


@pytest.mark.parametrize("codec", CODECS)
def test_acks_all_compression_roundtrip(module_broker, codec):
    b = module_broker
    partitions = 3
    topic = create_topic(b.bootstrap, unique("comp-" + codec), partitions)
    recs = make_records(1500, partitions, seed=codec)
    p = producer(b.bootstrap, **{"compression.type": codec, "linger.ms": 20})
    log = produce_all(p, topic, recs)
    assert log.failed == [], "delivery failures: %s" % log.failed[:5]
    assert len(log.ok) == len(recs)

    # delivery reports: per partition, offsets are 0..n-1 in send order
    sent = {q: [r for r in recs if r["partition"] == q] for q in range(partitions)}
    reported = {q: sorted((o, v) for (_, pp, o, _, v, _, _) in log.ok if pp == q) for q in range(partitions)}
    for q in range(partitions):
        assert [o for o, _ in reported[q]] == list(range(len(sent[q])))
        assert [v for _, v in reported[q]] == [r["value"] for r in sent[q]], "partition %d reorder" % q

    got = read_all(b.bootstrap, topic, partitions)
    for q in range(partitions):
        msgs = got[q]
        assert [m.offset() for m in msgs] == list(range(len(sent[q])))
        for m, r in zip(msgs, sent[q]):
            assert m.value() == r["value"]
            assert m.key() == r["key"]
            assert (m.headers() or None) == r["headers"]

    # assign with explicit offsets: start in the middle of each partition
    # (inside compressed batches) and get exactly the suffix
    starts = {q: len(sent[q]) // 2 + 1 for q in range(partitions)}
    got2 = read_partitions(b.bootstrap, topic, starts)
    for q in range(partitions):
        assert [m.offset() for m in got2[q]] == list(range(starts[q], len(sent[q])))
        assert [m.value() for m in got2[q]] == [r["value"] for r in sent[q][starts[q]:]]


def test_assign_then_seek(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("seek"), 1)
    recs = [{"value": b"v%d" % i, "partition": 0} for i in range(300)]
    log = produce_all(producer(b.bootstrap), topic, recs)
    assert not log.failed
    c = consumer(b.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        first = _poll_n(c, 10)
        assert [m.offset() for m in first] == list(range(10))
        c.seek(TopicPartition(topic, 0, 250))
        after = _poll_n(c, 50)
        assert [m.offset() for m in after] == list(range(250, 300))
        assert [m.value() for m in after] == [b"v%d" % i for i in range(250, 300)]
    finally:
        c.close()


def _poll_n(c, n, timeout=30):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, "got %d of %d messages" % (len(out), n)
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        out.append(m)
    return out


def test_idempotent_producer(module_broker):
    b = module_broker
    partitions = 2
    topic = create_topic(b.bootstrap, unique("idem"), partitions)
    p = producer(b.bootstrap, **{"enable.idempotence": True, "linger.ms": 2,
                                 "max.in.flight.requests.per.connection": 5})
    recs = [{"value": b"idem-%05d" % i, "partition": i % partitions} for i in range(3000)]
    log = produce_all(p, topic, recs)
    assert log.failed == [], "delivery failures: %s" % log.failed[:5]
    got = read_all(b.bootstrap, topic, partitions)
    for q in range(partitions):
        want = [r["value"] for r in recs if r["partition"] == q]
        vals = [m.value() for m in got[q]]
        assert len(vals) == len(set(vals)), "duplicates in partition %d" % q
        assert vals == want, "partition %d: content/order differs" % q
        assert [m.offset() for m in got[q]] == list(range(len(want)))
    # a second idempotent session (new producer id) keeps appending
    log2 = produce_all(producer(b.bootstrap, **{"enable.idempotence": True}), topic,
                       [{"value": b"second", "partition": 0}])
    assert not log2.failed
    assert log2.ok[0][2] == len([r for r in recs if r["partition"] == 0])


def test_offsets_for_times(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("ts"), 1)
    base = 1_700_000_000_000
    n = 200
    # strictly increasing timestamps 10 ms apart, produced with linger so many
    # records share a batch: the lookup must be exact inside a batch
    recs = [{"value": b"t%d" % i, "partition": 0, "timestamp": base + 10 * i} for i in range(n)]
    log = produce_all(producer(b.bootstrap, **{"linger.ms": 50}), topic, recs)
    assert not log.failed
    got = read_all(b.bootstrap, topic, 1)[0]
    assert [m.timestamp()[1] for m in got] == [base + 10 * i for i in range(n)]

    c = consumer(b.bootstrap)
    try:
        def lookup(ts):
            r = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert r[0].error is None, r[0].error
            return r[0].offset

        assert lookup(base - 5000) == 0
        assert lookup(base) == 0
        assert lookup(base + 1) == 1
        assert lookup(base + 555) == 56
        assert lookup(base + 10 * 137) == 137
        assert lookup(base + 10 * (n - 1)) == n - 1
        # no record at or after T: Kafka answers offset -1
        assert lookup(base + 10 * n + 1) == -1
    finally:
        c.close()


def test_max_message_bytes(module_broker):
    b = module_broker
    limit = 100_000
    topic = create_topic(b.bootstrap, unique("big"), 1, config={"max.message.bytes": str(limit)})
    p = producer(b.bootstrap, **{"message.max.bytes": 4 * 1024 * 1024, "linger.ms": 0,
                                 "compression.type": "none", "retries": 0})
    # a single-record batch with a value of limit-200 bytes is below the limit
    # (batch header 61 bytes + record framing < 20 bytes)
    ok_value = b"a" * (limit - 200)
    log = produce_all(p, topic, [{"value": ok_value, "partition": 0}])
    assert log.failed == [], log.failed
    too_big = b"b" * (limit + 1)
    log2 = produce_all(p, topic, [{"value": too_big, "partition": 0}])
    assert len(log2.failed) == 1, "oversized message was accepted: %s" % (log2.ok,)
    err = log2.failed[0][1]
    assert err.code() == KafkaError.MSG_SIZE_TOO_LARGE, "got %s" % err
    # the log holds exactly the accepted message
    got = read_all(b.bootstrap, topic, 1)[0]
    assert [m.value() for m in got] == [ok_value]

    # raise the limit with AlterConfigs: now the big one goes through
    a = admin(b.bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"max.message.bytes": str(4 * limit)})
    a.alter_configs([res])[res].result(timeout=30)
    log3 = produce_all(p, topic, [{"value": too_big, "partition": 0}])
    assert log3.failed == [], log3.failed
    assert log3.ok[0][2] == 1


# ---------------------------------------------------------------- AdminClient

def _err_code(fut):
    with pytest.raises(KafkaException) as ei:
        fut.result(timeout=30)
    return ei.value.args[0].code()


def test_admin_create_invalid_and_duplicate(module_broker):
    b = module_broker
    a = admin(b.bootstrap)
    for bad in ["bad/name", "white space", "a" * 250, ".", ".."]:
        fs = a.create_topics([NewTopic(bad, num_partitions=1, replication_factor=1)])
        assert _err_code(fs[bad]) == KafkaError.TOPIC_EXCEPTION, bad  # INVALID_TOPIC_EXCEPTION (17)
    name = unique("dup")
    a.create_topics([NewTopic(name, 2, 1)])[name].result(timeout=30)
    fs = a.create_topics([NewTopic(name, 2, 1)])
    assert _err_code(fs[name]) == KafkaError.TOPIC_ALREADY_EXISTS
    md = a.list_topics(timeout=10)
    assert name in md.topics and len(md.topics[name].partitions) == 2
    assert not any(n.startswith("bad") or n in (".", "..") for n in md.topics)


def test_admin_delete_topics(module_broker):
    b = module_broker
    a = admin(b.bootstrap)
    name = create_topic(b.bootstrap, unique("del"), 2)
    log = produce_all(producer(b.bootstrap), name, [{"value": b"x", "partition": 1}])
    assert not log.failed
    a.delete_topics([name], operation_timeout=30)[name].result(timeout=30)
    deadline = time.monotonic() + 30
    while name in a.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "deleted topic still listed"
        time.sleep(0.1)
    fs = a.delete_topics([name], operation_timeout=30)
    assert _err_code(fs[name]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # re-created under the same name it starts empty
    create_topic(b.bootstrap, name, 1)
    got = read_all(b.bootstrap, name, 1)
    assert got[0] == []


def test_admin_create_partitions(module_broker):
    b = module_broker
    a = admin(b.bootstrap)
    name = create_topic(b.bootstrap, unique("parts"), 2)
    a.create_partitions([NewPartitions(name, 5)])[name].result(timeout=30)
    wait_topic(b.bootstrap, name, 5)
    log = produce_all(producer(b.bootstrap), name, [{"value": b"p%d" % q, "partition": q} for q in range(5)])
    assert not log.failed
    assert sorted((pp, o) for (_, pp, o, *_r) in log.ok) == [(q, 0) for q in range(5)]
    got = read_all(b.bootstrap, name, 5)
    assert [got[q][0].value() for q in range(5)] == [b"p%d" % q for q in range(5)]
    # shrinking is refused
    fs = a.create_partitions([NewPartitions(name, 3)])
    assert _err_code(fs[name]) == KafkaError.INVALID_PARTITIONS


def _describe(a, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([res])[res].result(timeout=30)


def test_admin_describe_and_alter_configs(module_broker):
    b = module_broker
    a = admin(b.bootstrap)
    name = create_topic(b.bootstrap, unique("cfg"), 1,
                        config={"retention.ms": "3600000", "max.message.bytes": "200000"})
    cfg = _describe(a, name)
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["max.message.bytes"].value == "200000"
    assert not cfg["retention.ms"].is_default
    res = ConfigResource(ConfigResource.Type.TOPIC, name,
                         set_config={"retention.ms": "7200000", "max.message.bytes": "300000"})
    a.alter_configs([res])[res].result(timeout=30)
    cfg = _describe(a, name)
    assert cfg["retention.ms"].value == "7200000"
    assert cfg["max.message.bytes"].value == "300000"
    # unknown topic
    res = ConfigResource(ConfigResource.Type.TOPIC, unique("nope"))
    assert _err_code(a.describe_configs([res])[res]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_admin_describe_config_sources_and_synonyms(broker_factory):
    """Where each value comes from (DescribeConfigs v1+ include_synonyms, which
    librdkafka always asks for): an override is DYNAMIC_TOPIC_CONFIG with the
    broker-level config it hides behind it; a default is the broker's, and
    max.message.bytes is this broker's own static message.max.bytes."""
    b = broker_factory(config={"topics": {"max_message_bytes": 500000}})
    a = admin(b.bootstrap)
    name = create_topic(b.bootstrap, unique("syn"), 1, config={"retention.ms": "3600000"})
    cfg = _describe(a, name)

    ret = cfg["retention.ms"]
    assert (ret.value, ret.source, ret.is_default) == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value, False)
    assert [(s.name, s.value, s.source) for s in ret.synonyms.values()] == [
        ("retention.ms", "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
        ("log.retention.ms", "604800000", ConfigSource.DEFAULT_CONFIG.value)]

    seg = cfg["segment.bytes"]
    assert (seg.value, seg.source, seg.is_default) == ("1073741824", ConfigSource.DEFAULT_CONFIG.value, True)
    assert [(s.name, s.value, s.source) for s in seg.synonyms.values()] == [
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG.value)]

    mmb = cfg["max.message.bytes"]
    assert (mmb.value, mmb.source) == ("500000", ConfigSource.STATIC_BROKER_CONFIG.value)
    assert [(s.name, s.value, s.source) for s in mmb.synonyms.values()] == [
        ("message.max.bytes", "500000", ConfigSource.STATIC_BROKER_CONFIG.value)]

    # a topic-only key has no broker-level synonym
    assert [s.name for s in cfg["remote.storage.enable"].synonyms.values()] == []

    # broker resources: each static config is its own synonym
    node = next(iter(a.list_topics(timeout=30).brokers))
    res = ConfigResource(ConfigResource.Type.BROKER, str(node))
    bcfg = a.describe_configs([res])[res].result(timeout=30)
    mb = bcfg["message.max.bytes"]
    assert (mb.value, mb.source) == ("500000", ConfigSource.STATIC_BROKER_CONFIG.value)
    assert [(s.name, s.value, s.source) for s in mb.synonyms.values()] == [
        ("message.max.bytes", "500000", ConfigSource.STATIC_BROKER_CONFIG.value)]


def test_admin_list_topics(module_broker):
    b = module_broker
    a = admin(b.bootstrap)
    names = {unique("lt-a"): 1, unique("lt-b"): 3}
    fs = a.create_topics([NewTopic(n, p, 1) for n, p in names.items()])
    for n in names:
        fs[n].result(timeout=30)
    md = a.list_topics(timeout=10)
    assert len(md.brokers) == 1
    (bid, bmd), = md.brokers.items()
    assert (bmd.host, bmd.port) == ("127.0.0.1", b.port)
    for n, p in names.items():
        t = md.topics[n]
        assert t.error is None
        assert sorted(t.partitions) == list(range(p))
        for pm in t.partitions.values():
            assert pm.leader == bid and pm.replicas == [bid] and pm.isrs == [bid]


def test_admin_topic_validation(module_broker):
    """Kafka's checks with Kafka's codes: partition counts, a 249-character
    name, and each validated topic config refused with INVALID_CONFIG at
    creation and at AlterConfigs (where the old value stays)."""
    b = module_broker
    a = admin(b.bootstrap)
    name = "v" * 249
    a.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)
    assert name in a.list_topics(timeout=10).topics
    bad_parts = unique("parts0")
    fs = a.create_topics([NewTopic(bad_parts, num_partitions=0, replication_factor=1)])
    assert _err_code(fs[bad_parts]) == KafkaError.INVALID_PARTITIONS
    bad = {"retention.ms": "soon", "retention.bytes": "lots", "segment.bytes": "10",
           "cleanup.policy": "shred", "compression.type": "brotli", "max.message.bytes": "-5",
           "no.such.config": "1"}
    for key, value in bad.items():
        t = unique("badcfg")
        fs = a.create_topics([NewTopic(t, 1, 1, config={key: value})])
        assert _err_code(fs[t]) == KafkaError.INVALID_CONFIG, (key, value)
        assert t not in a.list_topics(timeout=10).topics
    good = create_topic(b.bootstrap, unique("goodcfg"), 1, config={"retention.ms": "3600000"})
    for key, value in bad.items():
        res = ConfigResource(ConfigResource.Type.TOPIC, good, set_config={key: value})
        assert _err_code(a.alter_configs([res])[res]) == KafkaError.INVALID_CONFIG, (key, value)
    assert _describe(a, good)["retention.ms"].value == "3600000"

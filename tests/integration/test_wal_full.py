"""A full WAL: produce is refused with a retriable error instead of hanging or
crashing, everything acknowledged before stays readable, metadata and fetch
keep working, and a restart recovers the full WAL intact.

Sealed segments normally go to the object store and free the WAL, so the WAL
only fills when uploads fail: the object store here is an S3 endpoint nobody
listens on (127.0.0.1:1), as in an object-store outage."""
from confluent_kafka import KafkaError

from helpers import (admin, create_topic, produce_all, producer, read_all,
                     unique)

MiB = 1024 * 1024
BROKER_CONFIG = {"wal": {"capacity_bytes": 32 * MiB, "segment_size_bytes": 16 * MiB},
                 "object_storage": {"storage_type": "s3", "endpoint": "http://127.0.0.1:1", "bucket": "down",
                                    "region": "us-east-1", "access_key": "x", "secret_key": "y"}}


def test_wal_full(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("full"), 2)
    p = producer(b.bootstrap, **{"retries": 0, "linger.ms": 0, "message.timeout.ms": 20000})
    acked = []
    failed = []
    n = 0
    # 64 KiB messages until the broker refuses: at most ~2x capacity attempted
    while not failed and n < (64 * MiB) // (64 * 1024):
        log = produce_all(p, topic, [{"value": b"%08d" % k + b"w" * (64 * 1024 - 8), "partition": k % 2}
                                     for k in range(n, n + 16)], timeout=60)
        n += 16
        acked.extend(log.ok)
        failed.extend(log.failed)
    assert failed, "the 32 MiB WAL accepted %d x 64 KiB messages" % len(acked)
    assert acked, "nothing was accepted before the WAL filled up"
    codes = {e.code() for _, e in failed}
    # back-pressure the client retries: what Kafka answers for a slow or
    # failed log append
    retriable = {KafkaError.REQUEST_TIMED_OUT, KafkaError.KAFKA_STORAGE_ERROR}
    assert codes <= retriable, "WAL full answered with %s" % codes
    print("WAL full after %d x 64 KiB acknowledged; errors %s" % (len(acked), codes))
    assert b.running

    def check():
        got = read_all(b.bootstrap, topic, 2, timeout=60)
        for (_, q, off, _, v, _, _) in acked:
            assert got[q][off].value() == v
        assert sum(len(v) for v in got.values()) >= len(acked)
        md = admin(b.bootstrap).list_topics(timeout=10)
        assert topic in md.topics

    check()
    assert b.stop() == 0
    b.start()
    check()

"""DeleteRecords (API 21) against the real broker: the log start moves, the
records below it are gone for every consumer, the error codes follow Kafka
(OFFSET_OUT_OF_RANGE past the high watermark, UNKNOWN_TOPIC_OR_PARTITION),
-1 means "up to the high watermark", and with tiering the objects that held
only deleted records are deleted while the broker runs.

None of the Python clients here sends DeleteRecords (confluent-kafka 1.7,
kafka-python 2.0.2), so the request is encoded by hand, v0 (classic) and v2
(flexible), from shared/kafka-protocol/messages/DeleteRecords*.json.
"""
import socket
import struct

from confluent_kafka import TopicPartition

from helpers import (Reader, _compact_str, _uvarint, consumer, create_topic, frame,
                     high_watermarks, produce_all, producer, recv_frame, unique)
from test_tiering import objects_under, produce_mib, tier_config, wait_for

DELETE_RECORDS = 21
NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION = 0, 1, 3


def delete_records_request(version, corr, topics, timeout_ms=30000):
    """topics: {name: {partition: offset}} -> a complete request frame."""
    flex = version >= 2
    cid = b"itest"
    hdr = struct.pack(">hhih", DELETE_RECORDS, version, corr, len(cid)) + cid
    if flex:
        hdr += b"\x00"
    body = _uvarint(len(topics) + 1) if flex else struct.pack(">i", len(topics))
    for name, parts in topics.items():
        nb = name.encode()
        body += _compact_str(name) if flex else struct.pack(">h", len(nb)) + nb
        body += _uvarint(len(parts) + 1) if flex else struct.pack(">i", len(parts))
        for p, off in parts.items():
            body += struct.pack(">iq", p, off) + (b"\x00" if flex else b"")
        body += b"\x00" if flex else b""
    body += struct.pack(">i", timeout_ms) + (b"\x00" if flex else b"")
    return frame(hdr + body)


def parse_delete_records_response(version, corr, payload):
    """-> {(topic, partition): (low_watermark, error_code)}"""
    flex = version >= 2
    r = Reader(payload)
    assert r.i32() == corr
    if flex:
        r.skip_tags()
    r.i32()  # throttle_time_ms
    out = {}
    nt = r.uvarint() - 1 if flex else r.i32()
    for _ in range(nt):
        name = r.take(r.uvarint() - 1 if flex else r.i16()).decode()
        npart = r.uvarint() - 1 if flex else r.i32()
        for _ in range(npart):
            p = r.i32()
            low = struct.unpack(">q", r.take(8))[0]
            err = r.i16()
            if flex:
                r.skip_tags()
            out[(name, p)] = (low, err)
        if flex:
            r.skip_tags()
    if flex:
        r.skip_tags()
    assert r.done(), "trailing bytes in DeleteRecords v%d response" % version
    return out


def delete_records(bootstrap, topics, version=2):
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(delete_records_request(version, 7, topics))
        return parse_delete_records_response(version, 7, recv_frame(s))


def first_offset(bootstrap, topic, partition):
    c = consumer(bootstrap, **{"auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        for _ in range(60):
            m = c.poll(0.5)
            if m is not None and not m.error():
                return m.offset()
        return None
    finally:
        c.close()


def test_delete_records_moves_the_log_start(broker):
    topic = create_topic(broker.bootstrap, unique("delrec"), 2)
    p = producer(broker.bootstrap, **{"acks": "all"})
    log = produce_all(p, topic, ({"value": b"v%d" % i, "partition": i % 2} for i in range(200)))
    assert not log.failed
    for version in (0, 2):
        res = delete_records(broker.bootstrap, {topic: {0: 40 + version}}, version)
        assert res == {(topic, 0): (40 + version, NONE)}, res
    assert high_watermarks(broker.bootstrap, topic, 2) == {0: (42, 100), 1: (0, 100)}
    assert first_offset(broker.bootstrap, topic, 0) == 42
    # an offset below the log start changes nothing; -1 is the high watermark
    res = delete_records(broker.bootstrap, {topic: {0: 10, 1: -1}})
    assert res == {(topic, 0): (42, NONE), (topic, 1): (100, NONE)}, res
    assert high_watermarks(broker.bootstrap, topic, 2)[1] == (100, 100)
    # errors, per partition, beside a success in the same request
    res = delete_records(broker.bootstrap, {topic: {0: 101, 5: 0}, "no-such-topic": {0: 0}})
    assert res[(topic, 0)] == (-1, OFFSET_OUT_OF_RANGE)
    assert res[(topic, 5)][1] == UNKNOWN_TOPIC_OR_PARTITION
    assert res[("no-such-topic", 0)][1] == UNKNOWN_TOPIC_OR_PARTITION
    # the log start survives a restart (the WAL's TRIM entry)
    broker.stop()
    broker.start()
    assert high_watermarks(broker.bootstrap, topic, 2) == {0: (42, 100), 1: (100, 100)}
    # new records still append after the deleted ones
    log = produce_all(producer(broker.bootstrap), topic, ({"value": b"late", "partition": 1} for _ in range(3)))
    assert not log.failed
    assert high_watermarks(broker.bootstrap, topic, 2)[1] == (100, 103)
    assert first_offset(broker.bootstrap, topic, 1) == 100


def test_delete_records_deletes_the_objects_it_empties(broker_factory):
    """Deleting the records of more than 32 objects at once (one metadata
    result lists at most 32 deletable keys) deletes them all while the broker
    runs, and keeps the objects that still hold live records."""
    b = broker_factory(tier_config(wal={"upload_interval_ms": 1000}))
    topic = create_topic(b.bootstrap, unique("delrec-tier"), 1)
    n = produce_mib(b.bootstrap, topic, 1, 160)  # 4 MiB segments: ~40 objects
    wait_for(lambda: len(objects_under(b.data_dir)) >= 40, 120, "the segments to be uploaded")
    before = len(objects_under(b.data_dir))
    cut = n - 64  # the last 1 MiB stays
    res = delete_records(b.bootstrap, {topic: {0: cut}})
    assert res == {(topic, 0): (cut, NONE)}, res
    wait_for(lambda: len(objects_under(b.data_dir)) <= 2, 30, "the emptied objects to be deleted")
    print("objects: %d before DeleteRecords, %d after" % (before, len(objects_under(b.data_dir))))
    assert objects_under(b.data_dir), "the object with the live records was deleted too"
    assert high_watermarks(b.bootstrap, topic, 1)[0] == (cut, n)
    assert first_offset(b.bootstrap, topic, 0) == cut

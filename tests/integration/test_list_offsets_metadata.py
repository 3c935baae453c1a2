"""ListOffsets and Metadata edge cases against the real broker (h_metadata.c):

- a timestamp lookup never answers below the log start, also when
  DeleteRecords cut the batch the index points at, and answers the record's
  own timestamp (Kafka: the first record at or after the log start whose
  timestamp is at or after the one asked for);
- the special timestamps -3 (MAX_TIMESTAMP, KIP-734), -4
  (EARLIEST_LOCAL_TIMESTAMP, KIP-405) and -5 (LATEST_TIERED_TIMESTAMP,
  KIP-1005);
- current_leader_epoch is checked (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH);
- Metadata v10/v11 naming a topic by id (null name) is answered with
  INVALID_REQUEST like Kafka, not with a dropped connection; v12 resolves ids.

Records are produced as hand-built batches (kafka-python's batch builder,
raw Produce v3) so the batch boundaries are known; ListOffsets and Metadata
are encoded by hand from shared/kafka-protocol/messages/*.json.
"""
import shutil
import socket
import struct
import time

from confluent_kafka import KafkaError, TopicPartition
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

from helpers import Reader, _compact_str, _uvarint, consumer, create_topic, frame, recv_frame, unique
from test_delete_records import delete_records
from test_tiering import wait_for

PRODUCE, LIST_OFFSETS, METADATA = 0, 2, 3
NONE, INVALID_REQUEST, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_ID = 0, 42, 74, 75, 100
T0 = 1_700_000_000_000


def _i64(r):
    return struct.unpack(">q", r.take(8))[0]


def _str(r, flex):
    n = r.uvarint() - 1 if flex else r.i16()
    return None if n < 0 else r.take(n).decode()


def _header(api, version, corr, flex):
    cid = b"itest"
    return struct.pack(">hhih", api, version, corr, len(cid)) + cid + (b"\x00" if flex else b"")


class Conn:
    def __init__(self, bootstrap):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=30)
        self.corr = 0

    def call(self, api, version, body, flex):
        self.corr += 1
        self.s.sendall(frame(_header(api, version, self.corr, flex) + body))
        r = Reader(recv_frame(self.s))
        assert r.i32() == self.corr
        if flex:
            r.skip_tags()
        return r

    def close(self):
        self.s.close()


def produce(bootstrap, topic, timestamps, partition=0, header_max_ts=None, compression=0):
    """One batch holding one record per timestamp -> its base offset. With
    header_max_ts, the batch header claims that maxTimestamp instead of the
    records' (CRC recomputed), as Sarama 1.22 sends -1."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=0, producer_id=-1,
                                  producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, ts in enumerate(timestamps):
        b.append(i, timestamp=ts, key=None, value=b"v%d" % i, headers=[])
    batch = bytes(b.build())
    if header_max_ts is not None:
        batch = bytearray(batch)
        batch[35:43] = struct.pack(">q", header_max_ts)
        batch[17:21] = struct.pack(">I", calc_crc32c(bytes(batch[21:])))
        batch = bytes(batch)
    tb = topic.encode()
    body = struct.pack(">hhii", -1, -1, 30000, 1) + struct.pack(">h", len(tb)) + tb
    body += struct.pack(">iii", 1, partition, len(batch)) + batch
    c = Conn(bootstrap)
    try:
        r = c.call(PRODUCE, 3, body, False)
    finally:
        c.close()
    assert r.i32() == 1 and r.take(r.i16()) == tb and r.i32() == 1
    assert r.i32() == partition
    err = r.i16()
    assert err == NONE, "produce error %d" % err
    return _i64(r)


def list_offsets(bootstrap, topic, ts, version=7, epoch=-1, partition=0):
    """-> (error_code, offset, timestamp, leader_epoch) of one partition."""
    flex = version >= 6
    body = struct.pack(">i", -1)
    if version >= 2:
        body += b"\x00"  # isolation level: read uncommitted
    body += _uvarint(2) if flex else struct.pack(">i", 1)
    body += _compact_str(topic) if flex else struct.pack(">h", len(topic)) + topic.encode()
    body += _uvarint(2) if flex else struct.pack(">i", 1)
    body += struct.pack(">i", partition)
    if version >= 4:
        body += struct.pack(">i", epoch)
    body += struct.pack(">q", ts)
    body += b"\x00\x00\x00" if flex else b""  # partition, topic, request tags
    c = Conn(bootstrap)
    try:
        r = c.call(LIST_OFFSETS, version, body, flex)
    finally:
        c.close()
    if version >= 2:
        r.i32()  # throttle
    assert (r.uvarint() - 1 if flex else r.i32()) == 1
    assert _str(r, flex) == topic
    assert (r.uvarint() - 1 if flex else r.i32()) == 1
    assert r.i32() == partition
    err = r.i16()
    ts_out, off = _i64(r), _i64(r)
    le = r.i32() if version >= 4 else None
    if flex:
        r.skip_tags()
        r.skip_tags()
        r.skip_tags()
    assert r.done()
    return err, off, ts_out, le


def metadata_request(version, topics, allow_auto=False):
    """Metadata v10..v12 body; topics = [(name or None, 16-byte id)]."""
    body = _uvarint(len(topics) + 1)
    for name, tid in topics:
        body += tid + (_uvarint(0) if name is None else _compact_str(name)) + b"\x00"
    body += b"\x01" if allow_auto else b"\x00"
    if version <= 10:
        body += b"\x00"  # include_cluster_authorized_operations
    return body + b"\x00\x00"  # include_topic_authorized_operations, tags


def parse_metadata(version, r):
    """-> [(error_code, name, topic_id, [(partition, leader_epoch)])]"""
    r.i32()  # throttle
    for _ in range(r.uvarint() - 1):  # brokers
        r.i32(), _str(r, True), r.i32(), _str(r, True)
        r.skip_tags()
    _str(r, True)  # cluster id
    r.i32()  # controller
    out = []
    for _ in range(r.uvarint() - 1):
        err = r.i16()
        name = _str(r, True)
        tid = r.take(16)
        r.take(1)  # is_internal
        parts = []
        for _ in range(r.uvarint() - 1):
            r.i16()
            idx, _leader, epoch = r.i32(), r.i32(), r.i32()
            for _ in range(3):  # replicas, isr, offline
                r.take(4 * (r.uvarint() - 1))
            r.skip_tags()
            parts.append((idx, epoch))
        r.i32()  # topic authorized operations
        r.skip_tags()
        out.append((err, name, tid, parts))
    if version <= 10:
        r.i32()
    r.skip_tags()
    assert r.done()
    return out


def metadata(conn, version, topics):
    return parse_metadata(version, conn.call(METADATA, version, metadata_request(version, topics), True))


def new_topic(b, prefix):
    return create_topic(b.bootstrap, unique(prefix), 1)


# ------------------------------------------------------------ timestamp lookups

def test_timestamp_lookup_never_below_log_start(broker):
    topic = new_topic(broker, "lo-dr")
    assert produce(broker.bootstrap, topic, [T0 + 100 * i for i in range(10)]) == 0  # offsets 0..9, one batch
    assert delete_records(broker.bootstrap, {topic: {0: 7}}) == {(topic, 0): (7, NONE)}
    for version in (1, 5, 7, 9):
        # the batch the index finds starts at 0: the answer is the first retained record
        assert list_offsets(broker.bootstrap, topic, T0 - 1, version)[:3] == (NONE, 7, T0 + 700), version
        assert list_offsets(broker.bootstrap, topic, T0 + 250, version)[:3] == (NONE, 7, T0 + 700), version
        assert list_offsets(broker.bootstrap, topic, T0 + 750, version)[:3] == (NONE, 8, T0 + 800), version
        assert list_offsets(broker.bootstrap, topic, T0 + 900, version)[:3] == (NONE, 9, T0 + 900), version
        assert list_offsets(broker.bootstrap, topic, T0 + 901, version)[:3] == (NONE, -1, -1), version
    # what a client sees
    c = consumer(broker.bootstrap)
    try:
        got = c.offsets_for_times([TopicPartition(topic, 0, T0 + 250)], timeout=30)[0]
        assert got.error is None and got.offset == 7, got
    finally:
        c.close()


def test_timestamp_lookup_past_a_cut_batch(broker):
    """The cut batch's largest timestamp is below the log start: the answer
    is in a later batch, or there is none."""
    topic = new_topic(broker, "lo-cut")
    produce(broker.bootstrap, topic, [T0, T0 + 5000, T0 + 1000])  # offsets 0..2
    produce(broker.bootstrap, topic, [T0 + 2000])  # offset 3
    produce(broker.bootstrap, topic, [T0 + 4000, T0 + 3000])  # offsets 4, 5
    delete_records(broker.bootstrap, {topic: {0: 2}})
    assert list_offsets(broker.bootstrap, topic, T0 + 500)[:3] == (NONE, 2, T0 + 1000)
    assert list_offsets(broker.bootstrap, topic, T0 + 1500)[:3] == (NONE, 3, T0 + 2000)
    assert list_offsets(broker.bootstrap, topic, T0 + 2500)[:3] == (NONE, 4, T0 + 4000)
    assert list_offsets(broker.bootstrap, topic, T0 + 4500)[:3] == (NONE, -1, -1)


# ------------------------------------------------------------ special timestamps

def test_max_timestamp(broker):
    topic = new_topic(broker, "lo-max")
    # empty partition: no record
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, -1, -1)
    produce(broker.bootstrap, topic, [T0, T0 + 5000, T0 + 1000])  # max at offset 1
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, 1, T0 + 5000)
    # later batches with smaller timestamps and a tie: still the first record holding the max
    produce(broker.bootstrap, topic, [T0 + 100])
    produce(broker.bootstrap, topic, [T0 + 200, T0 + 5000])  # offsets 4, 5
    for version in (7, 8, 9):
        assert list_offsets(broker.bootstrap, topic, -3, version)[:3] == (NONE, 1, T0 + 5000), version
    # a new maximum in the last batch, one far above (galloping), one in the middle
    produce(broker.bootstrap, topic, [T0 + 6000, T0 + 7000])  # offsets 6, 7
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, 7, T0 + 7000)
    produce(broker.bootstrap, topic, [T0 + 10 ** 9])  # offset 8
    produce(broker.bootstrap, topic, [T0 + 300])  # offset 9
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, 8, T0 + 10 ** 9)
    # the latest offset is still the high watermark
    assert list_offsets(broker.bootstrap, topic, -1)[:3] == (NONE, 10, -1)


def test_max_timestamp_after_delete_records(broker):
    topic = new_topic(broker, "lo-max-dr")
    produce(broker.bootstrap, topic, [T0, T0 + 5000, T0 + 1000])  # offsets 0..2, max at 1
    produce(broker.bootstrap, topic, [T0 + 2000])  # offset 3
    # the batch holding the largest timestamp is cut below that record
    delete_records(broker.bootstrap, {topic: {0: 2}})
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, 3, T0 + 2000)
    delete_records(broker.bootstrap, {topic: {0: 3}})
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, 3, T0 + 2000)
    # everything deleted: no record
    delete_records(broker.bootstrap, {topic: {0: -1}})
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, -1, -1)


def test_producer_max_timestamp_replaced(broker):
    """A batch header whose maxTimestamp is -1 (Sarama 1.22 always sends
    that) or wrong: the broker, like Kafka's LogValidator, stores the
    records' largest timestamp there, so lookups by timestamp, -3 and a
    consumer's offsets_for_times see the records' timestamps."""
    topic = new_topic(broker, "lo-hdr")
    produce(broker.bootstrap, topic, [T0, T0 + 300, T0 + 100], header_max_ts=-1)  # offsets 0..2
    produce(broker.bootstrap, topic, [T0 + 1000, T0 + 900], header_max_ts=T0 + 10 ** 9, compression=1)  # 3, 4
    produce(broker.bootstrap, topic, [T0 + 2000], header_max_ts=T0)  # 5
    for version in (1, 7):
        assert list_offsets(broker.bootstrap, topic, T0 + 1, version)[:3] == (NONE, 1, T0 + 300), version
        assert list_offsets(broker.bootstrap, topic, T0 + 950, version)[:3] == (NONE, 3, T0 + 1000), version
        assert list_offsets(broker.bootstrap, topic, T0 + 1500, version)[:3] == (NONE, 5, T0 + 2000), version
        assert list_offsets(broker.bootstrap, topic, T0 + 2001, version)[:3] == (NONE, -1, -1), version
    assert list_offsets(broker.bootstrap, topic, -3)[:3] == (NONE, 5, T0 + 2000)
    c = consumer(broker.bootstrap, **{"check.crcs": True})
    try:
        got = c.offsets_for_times([TopicPartition(topic, 0, T0 + 200)], timeout=30)[0]
        assert got.error is None and got.offset == 1, got
        # the stored batches verify (CRC) and carry the records' timestamps
        c.assign([TopicPartition(topic, 0, 0)])
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 6:
            assert time.monotonic() < deadline, "read %d of 6 records" % len(seen)
            m = c.poll(0.5)
            if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not m.error(), m.error()
            seen.append((m.offset(), m.timestamp()[1]))
        assert seen == [(0, T0), (1, T0 + 300), (2, T0 + 100), (3, T0 + 1000), (4, T0 + 900), (5, T0 + 2000)]
    finally:
        c.close()


def test_earliest_local_and_latest_tiered_without_uploads(broker):
    topic = new_topic(broker, "lo-local")
    assert list_offsets(broker.bootstrap, topic, -4, 8)[:3] == (NONE, 0, -1)
    assert list_offsets(broker.bootstrap, topic, -5, 9)[:3] == (NONE, -1, -1)
    produce(broker.bootstrap, topic, [T0 + i for i in range(5)])
    delete_records(broker.bootstrap, {topic: {0: 2}})
    for version in (8, 9):
        assert list_offsets(broker.bootstrap, topic, -4, version)[:3] == (NONE, 2, -1), version
    # nothing uploaded yet (the default upload interval is 10 minutes)
    assert list_offsets(broker.bootstrap, topic, -5, 9)[:3] == (NONE, -1, -1)


def test_latest_tiered_follows_uploads(broker_factory):
    b = broker_factory({"wal": {"upload_interval_ms": 1000}})
    topic = new_topic(b, "lo-tiered")
    T0 = int(time.time() * 1000)  # recent: retention (by record time) must not delete them
    produce(b.bootstrap, topic, [T0 + i for i in range(5)])  # offsets 0..4
    produce(b.bootstrap, topic, [T0 + 50])  # offset 5
    # the active segment is sealed and uploaded within a few seconds
    wait_for(lambda: list_offsets(b.bootstrap, topic, -5, 9)[1] == 5, 60, "offset 5 to be uploaded")
    assert list_offsets(b.bootstrap, topic, -5, 9) == (NONE, 5, -1, 0)
    # the earliest local offset is still the log start (the tier serves the rest)
    assert list_offsets(b.bootstrap, topic, -4, 8)[:3] == (NONE, 0, -1)
    produce(b.bootstrap, topic, [T0 + 6])  # offset 6
    wait_for(lambda: list_offsets(b.bootstrap, topic, -5, 9)[1] == 6, 60, "offset 6 to be uploaded")
    # uploaded segments leave the WAL: -3 and timestamp lookups below it
    # answer from the manifest ranges (the range's start, at or before the
    # record; for -3 the range's max timestamp, which is the record's)
    err, off, ts, _ = list_offsets(b.bootstrap, topic, -3)
    assert err == NONE and 0 <= off <= 5 and ts == T0 + 50, (err, off, ts)
    # restarted with an empty WAL, everything is read from objects: the same
    # answers, -5 and -4 unchanged
    assert b.stop() == 0
    shutil.rmtree(b.config["wal"]["path"])
    b.start()
    assert list_offsets(b.bootstrap, topic, -1)[:2] == (NONE, 7)
    assert list_offsets(b.bootstrap, topic, -5, 9)[:3] == (NONE, 6, -1)
    assert list_offsets(b.bootstrap, topic, -4, 8)[:3] == (NONE, 0, -1)
    err, off, ts, _ = list_offsets(b.bootstrap, topic, -3)
    assert err == NONE and 0 <= off <= 5 and ts == T0 + 50, (err, off, ts)
    err, off, _, _ = list_offsets(b.bootstrap, topic, T0 + 6)
    assert err == NONE and 0 <= off <= 5, (err, off)


# ------------------------------------------------------------ leader epoch

def test_current_leader_epoch_is_checked(broker):
    topic = new_topic(broker, "lo-epoch")
    produce(broker.bootstrap, topic, [T0, T0 + 1])
    c = Conn(broker.bootstrap)
    try:
        (_, _, _, parts), = metadata(c, 12, [(topic, b"\x00" * 16)])
    finally:
        c.close()
    epoch = parts[0][1]
    for version in (4, 7, 9):
        assert list_offsets(broker.bootstrap, topic, -1, version, epoch)[:2] == (NONE, 2), version
        assert list_offsets(broker.bootstrap, topic, -1, version, -1)[:2] == (NONE, 2), version  # not checked
        assert list_offsets(broker.bootstrap, topic, -1, version, epoch + 1)[:2] == (UNKNOWN_LEADER_EPOCH, -1)
        assert list_offsets(broker.bootstrap, topic, -2, version, 99)[:2] == (UNKNOWN_LEADER_EPOCH, -1)
        # older than the leader's (a single broker's epoch stays 0: -2 is older, -1 means "unset")
        assert list_offsets(broker.bootstrap, topic, -1, version, epoch - 2)[:2] == (FENCED_LEADER_EPOCH, -1)
    # v1..v3 carry no epoch
    assert list_offsets(broker.bootstrap, topic, -1, 3)[:2] == (NONE, 2)
    # the answer's leader_epoch: the partition's epoch with an offset, -1 without one
    for ts in (-2, -1, -3, T0 + 1):
        assert list_offsets(broker.bootstrap, topic, ts, 7)[3] == epoch, ts
    err, off, _, le = list_offsets(broker.bootstrap, topic, T0 + 100, 7)
    assert (err, off, le) == (NONE, -1, -1)


# ------------------------------------------------------------ Metadata by topic id

def test_metadata_topic_ids_below_v12(broker):
    topic = new_topic(broker, "md-id")
    unknown = b"\x22" * 16
    c = Conn(broker.bootstrap)
    try:
        (err, name, tid, parts), = metadata(c, 12, [(topic, b"\x00" * 16)])
        assert err == NONE and name == topic and len(parts) == 1
        assert tid != b"\x00" * 16
        for version in (10, 11):
            # Kafka: topic ids are v12+; below, INVALID_REQUEST for every topic (name "" for a null one)
            got = metadata(c, version, [(None, unknown)])
            assert got == [(INVALID_REQUEST, "", unknown, [])], (version, got)
            got = metadata(c, version, [(None, tid), (topic, b"\x00" * 16)])
            assert [(e, n) for e, n, _, _ in got] == [(INVALID_REQUEST, ""), (INVALID_REQUEST, topic)], got
            # the connection is still usable, and names work as before
            (err, name, _, parts), = metadata(c, version, [(topic, b"\x00" * 16)])
            assert (err, name, len(parts)) == (NONE, topic, 1)
        # v12 resolves ids; an unknown one is UNKNOWN_TOPIC_ID with a null name
        assert metadata(c, 12, [(None, unknown)]) == [(UNKNOWN_TOPIC_ID, None, unknown, [])]
        (err, name, got_tid, parts), = metadata(c, 12, [(None, tid)])
        assert (err, name, got_tid, len(parts)) == (NONE, topic, tid, 1)
    finally:
        c.close()
    time.sleep(0.2)
    assert "cannot encode response" not in broker.log_text()

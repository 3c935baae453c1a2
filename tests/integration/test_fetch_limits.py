"""Fetch edge cases against Kafka's behaviour, with hand-encoded Fetch
requests (v4 classic, v9/v11 with current_leader_epoch, v12 flexible, v13+
by topic id) and Metadata v12 for topic ids and leader epochs:

- a partition error (unknown topic, unknown topic id, unknown partition,
  OFFSET_OUT_OF_RANGE) answers at once instead of waiting max_wait_ms, also
  next to a partition with data short of min_bytes; a fetch without errors
  still waits; a librdkafka consumer recovering from an out-of-range offset
  is not held up by fetch.wait.max.ms;
- max_bytes / partition_max_bytes (KIP-74): only the response's first batch
  (of the first partition with data) may exceed them; later partitions get
  whole batches within min(partition_max_bytes, what is left of max_bytes)
  or nothing; max_bytes 0 is "the first batch only"; the same from the
  object tier (WAL wiped, every batch read back from objects);
- a known topic id with an unknown partition is UNKNOWN_TOPIC_OR_PARTITION,
  only an unresolved id is UNKNOWN_TOPIC_ID;
- current_leader_epoch: newer than the partition's is UNKNOWN_LEADER_EPOCH,
  older is FENCED_LEADER_EPOCH (a controller quorum whose broker restarts,
  which moves the epoch to 2), negative is not checked;
- fetch sessions: epoch 0 / -1 are full fetches (session id 0 in the answer,
  what librdkafka 2.0.2 sends); any other epoch names a session we do not
  have: FETCH_SESSION_ID_NOT_FOUND at the top level, no partitions.
"""
import glob
import os
import socket
import struct
import time
import uuid

import pytest
from confluent_kafka import KafkaError, TopicPartition

from conftest import free_port
from helpers import (Reader, _compact_str, _uvarint, consumer, create_topic, frame, produce_all, producer,
                     recv_frame, unique)

FETCH, METADATA = 1, 3
NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION = 0, 1, 3
FETCH_SESSION_ID_NOT_FOUND, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH = 70, 74, 75
UNKNOWN_TOPIC_ID = 100
MiB = 1024 * 1024
# max_wait of fetches that must NOT park: 10 minutes, far beyond the
# connection's 30 s socket timeout, so a fetch that waited for it fails the
# test with a timeout instead of a measured duration
PARK_MS = 600000


# ---- raw requests ----

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _i64(r):
    return struct.unpack(">q", r.take(8))[0]


class Conn:
    def __init__(self, bootstrap, timeout=30):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0

    def request(self, api, version, body, flexible):
        """-> (Reader positioned after the response header, seconds taken)"""
        self.corr += 1
        cid = b"itest-fetch"
        hdr = struct.pack(">hhih", api, version, self.corr, len(cid)) + cid + (b"\x00" if flexible else b"")
        t0 = time.monotonic()
        self.s.sendall(frame(hdr + body))
        r = Reader(recv_frame(self.s))
        took = time.monotonic() - t0
        assert struct.unpack(">i", r.take(4))[0] == self.corr
        if flexible and api != 18:
            r.skip_tags()
        return r, took

    def close(self):
        self.s.close()


def _arr(items, flex):
    return (_uvarint(len(items) + 1) if flex else struct.pack(">i", len(items))) + b"".join(items)


def fetch_body(v, topics, max_wait_ms=0, min_bytes=1, max_bytes=0x7FFFFFFF, session_id=0, session_epoch=-1):
    """topics: [(name or 16-byte id, [(partition, offset, partition_max_bytes, current_leader_epoch)])]"""
    flex = v >= 12
    b = b""
    if v <= 14:
        b += struct.pack(">i", -1)
    b += struct.pack(">iiib", max_wait_ms, min_bytes, max_bytes, 0)
    if v >= 7:
        b += struct.pack(">ii", session_id, session_epoch)
    tl = []
    for t, parts in topics:
        if v >= 13:
            tb = t
        else:
            tb = _compact_str(t) if flex else _str(t)
        pl = []
        for p, off, pmax, epoch in parts:
            pb = struct.pack(">i", p)
            if v >= 9:
                pb += struct.pack(">i", epoch)
            pb += struct.pack(">q", off)
            if v >= 12:
                pb += struct.pack(">i", -1)  # last fetched epoch
            if v >= 5:
                pb += struct.pack(">q", -1)  # log start offset
            pb += struct.pack(">i", pmax)
            if flex:
                pb += b"\x00"
            pl.append(pb)
        tb += _arr(pl, flex)
        if flex:
            tb += b"\x00"
        tl.append(tb)
    b += _arr(tl, flex)
    if v >= 7:
        b += _arr([], flex)  # forgotten topics
    if v >= 11:
        b += _compact_str("") if flex else _str("")
    if flex:
        b += b"\x00"
    return b


def parse_batches(recs):
    """Whole batches only: -> [(base offset, record count, bytes)]; a partial batch fails."""
    out, o = [], 0
    while o < len(recs):
        assert len(recs) - o >= 12, "partial batch header at byte %d" % o
        base, length = struct.unpack_from(">qi", recs, o)
        assert o + 12 + length <= len(recs), "partial batch at byte %d" % o
        count = struct.unpack_from(">i", recs, o + 57)[0]
        out.append((base, count, 12 + length))
        o += 12 + length
    return out


def parse_fetch(v, r):
    """-> {"error", "session_id", "parts": [(topic, partition, error, hw, [batches])]}"""
    flex = v >= 12

    def n_of():
        return r.uvarint() - 1 if flex else r.i32()

    res = {"error": None, "session_id": None, "parts": []}
    r.i32()  # throttle
    if v >= 7:
        res["error"] = r.i16()
        res["session_id"] = r.i32()
    for _ in range(max(n_of(), 0)):
        if v >= 13:
            topic = r.take(16)
        elif flex:
            topic = r.take(r.uvarint() - 1).decode()
        else:
            topic = r.take(r.i16()).decode()
        for _ in range(max(n_of(), 0)):
            p = r.i32()
            err = r.i16()
            hw = _i64(r)
            _i64(r)  # last stable offset
            if v >= 5:
                _i64(r)  # log start
            for _ in range(max(n_of(), 0)):  # aborted transactions
                r.take(16)
                if flex:
                    r.skip_tags()
            if v >= 11:
                r.i32()  # preferred read replica
            n = r.uvarint() - 1 if flex else r.i32()
            recs = r.take(n) if n > 0 else b""
            if flex:
                r.skip_tags()
            res["parts"].append((topic, p, err, hw, parse_batches(recs)))
        if flex:
            r.skip_tags()
    if flex:
        r.skip_tags()
    assert r.done()
    return res


def fetch(c, v, topics, **kw):
    r, took = c.request(FETCH, v, fetch_body(v, topics, **kw), v >= 12)
    res = parse_fetch(v, r)
    res["took"] = took
    return res


def metadata(c, names):
    """Metadata v12 -> {name: (topic id, [leader epoch per partition])}"""
    tl = [b"\x00" * 16 + _compact_str(n) + b"\x00" for n in names]
    r, _ = c.request(METADATA, 12, _arr(tl, True) + b"\x00\x00\x00", True)
    r.i32()  # throttle
    for _ in range(r.uvarint() - 1):  # brokers
        r.i32()
        r.take(r.uvarint() - 1)
        r.i32()
        n = r.uvarint()
        if n:
            r.take(n - 1)
        r.skip_tags()
    n = r.uvarint()
    if n:
        r.take(n - 1)  # cluster id
    r.i32()  # controller
    out = {}
    for _ in range(r.uvarint() - 1):
        err = r.i16()
        name = r.take(r.uvarint() - 1).decode()
        tid = r.take(16)
        r.take(1)  # is internal
        epochs = []
        for _ in range(r.uvarint() - 1):
            r.i16()
            r.i32()  # index
            r.i32()  # leader
            epochs.append(r.i32())
            for _ in range(3):
                for _ in range(r.uvarint() - 1):
                    r.i32()
            r.skip_tags()
        r.i32()  # authorized operations
        r.skip_tags()
        assert err == NONE, (name, err)
        out[name] = (tid, epochs)
    return out


def produce_batches(bootstrap, topic, partitions, per_partition, size):
    """per_partition batches of one record of `size` bytes in each partition
    (linger 0 and a flush per record: one batch each)."""
    p = producer(bootstrap, **{"linger.ms": 0})
    for i in range(per_partition):
        for q in range(partitions):
            log = produce_all(p, topic, [{"value": bytes([65 + i]) * size, "partition": q}])
            assert not log.failed


def sizes(res):
    return [[n for _, _, n in batches] for _, _, _, _, batches in res["parts"]]


# ---- partition errors answer at once ----

@pytest.mark.parametrize("v", [4, 11, 12, 16])
def test_partition_errors_answer_at_once(broker, v):
    topic = create_topic(broker.bootstrap, unique("fe"), 1)
    produce_batches(broker.bootstrap, topic, 1, 1, 100)  # hw 1
    c = Conn(broker.bootstrap)
    try:
        tid = metadata(c, [topic])[topic][0] if v >= 13 else topic
        unknown = uuid.uuid4().bytes if v >= 13 else unique("nosuch")
        cases = [
            ([(unknown, [(0, 0, MiB, -1)])], [UNKNOWN_TOPIC_ID if v >= 13 else UNKNOWN_TOPIC_OR_PARTITION]),
            ([(tid, [(7, 0, MiB, -1)])], [UNKNOWN_TOPIC_OR_PARTITION]),
            ([(tid, [(0, 99, MiB, -1)])], [OFFSET_OUT_OF_RANGE]),
            # an error next to a partition waiting at its high watermark
            ([(tid, [(0, 99, MiB, -1), (0, 1, MiB, -1)])], [OFFSET_OUT_OF_RANGE, NONE]),
        ]
        for topics, errs in cases:
            res = fetch(c, v, topics, max_wait_ms=PARK_MS, min_bytes=1)
            assert [p[2] for p in res["parts"]] == errs, res
        # data short of min_bytes next to an error: answered at once, with the data
        res = fetch(c, v, [(tid, [(0, 0, MiB, -1), (0, 99, MiB, -1)])], max_wait_ms=PARK_MS, min_bytes=MiB)
        assert [p[2] for p in res["parts"]] == [NONE, OFFSET_OUT_OF_RANGE]
        assert [b for b, _, _ in res["parts"][0][4]] == [0]
        # without an error the fetch still waits for max_wait
        res = fetch(c, v, [(tid, [(0, 1, MiB, -1)])], max_wait_ms=800, min_bytes=1)
        assert [p[2] for p in res["parts"]] == [NONE] and res["took"] >= 0.7, res
    finally:
        c.close()


def test_consumer_out_of_range_reset_is_not_delayed(broker):
    """librdkafka: an assigned offset past the end gets OFFSET_OUT_OF_RANGE,
    resets to earliest and reads; with a long fetch.wait.max.ms the error
    must not have waited for it."""
    topic = create_topic(broker.bootstrap, unique("oor"), 1)
    produce_batches(broker.bootstrap, topic, 1, 3, 100)
    # a fetch.wait.max.ms far beyond the 30 s the test waits: a reset that
    # waited for it would not read the records in time
    c = consumer(broker.bootstrap, **{"auto.offset.reset": "earliest", "fetch.wait.max.ms": 120000,
                                      "socket.timeout.ms": 180000, "enable.partition.eof": False})
    try:
        t0 = time.monotonic()
        c.assign([TopicPartition(topic, 0, 1000)])
        got = []
        while len(got) < 3 and time.monotonic() - t0 < 30:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m.offset())
        assert got == [0, 1, 2], got
    finally:
        c.close()


# ---- max_bytes / partition_max_bytes (KIP-74) ----

def check_kip74(c, v, ids, batch):
    """3 partitions of 3 batches of `batch` bytes each."""
    S = batch

    def run(parts, max_bytes):
        res = fetch(c, v, [(ids, [(q, off, pmax, -1) for q, off, pmax in parts])], max_bytes=max_bytes)
        assert all(p[2] == NONE for p in res["parts"]), res
        for (_, q, _, _, batches), (_, off, _) in zip(res["parts"], parts):
            assert [b for b, _, _ in batches] == list(range(off, off + len(batches))), (q, batches)
        return sizes(res)

    big = 1 << 30
    every = lambda pmax: [(0, 0, pmax), (1, 0, pmax), (2, 0, pmax)]  # noqa: E731
    # max_bytes below one batch (0 included): the first batch only
    for mb in (0, 1, 100, S - 1):
        assert run(every(MiB), mb) == [[S], [], []], mb
    # what is left after the first batch fits no other
    assert run(every(MiB), S + S // 2) == [[S], [], []]
    # the first partition takes whole batches while they fit; the rest nothing
    assert run(every(MiB), 2 * S + 100) == [[S, S], [], []]
    assert run(every(MiB), 3 * S + 100) == [[S, S, S], [], []]
    # partition_max_bytes: one batch each while max_bytes lasts
    assert run(every(S + 100), 2 * S + 200) == [[S], [S], []]
    assert run(every(S + 100), big) == [[S], [S], [S]]
    # partition_max_bytes below one batch: only the first partition's first batch
    assert run(every(100), big) == [[S], [], []]
    assert run(every(0), big) == [[S], [], []]
    # the exception belongs to the first partition WITH data: partition 0 is
    # at its high watermark, partition 1 gets its first batch
    assert run([(0, 3, 100), (1, 0, 100), (2, 0, 100)], big) == [[], [S], []]
    assert run([(0, 3, MiB), (1, 1, MiB), (2, 0, MiB)], S + 100) == [[], [S], []]


@pytest.mark.parametrize("v", [4, 11, 12, 16])
def test_max_bytes_across_partitions(broker, v):
    topic = create_topic(broker.bootstrap, unique("kip74"), 3)
    produce_batches(broker.bootstrap, topic, 3, 3, 5000)
    c = Conn(broker.bootstrap)
    try:
        ids = metadata(c, [topic])[topic][0] if v >= 13 else topic
        first = fetch(c, v, [(ids, [(0, 0, 1, -1)])])
        batch = first["parts"][0][4][0][2]
        assert 5000 < batch < 5200
        check_kip74(c, v, ids, batch)
    finally:
        c.close()


def test_max_bytes_from_the_object_tier(broker_factory):
    """The same rules for batches read back from objects (WAL wiped after
    the quiet segment was uploaded): the tier reader returns at least one
    batch, the fetch must drop what does not fit."""
    b = broker_factory({"wal": {"capacity_bytes": 32 * MiB, "segment_size_bytes": 4 * MiB,
                                "upload_interval_ms": 1000},
                        "cache": {"read_cache_size_bytes": 16 * MiB}})
    topic = create_topic(b.bootstrap, unique("kip74t"), 3)
    produce_batches(b.bootstrap, topic, 3, 3, 5000)
    deadline = time.monotonic() + 30
    while not glob.glob(os.path.join(b.data_dir, "objects", "v1", "*", "segments", "*.obj")):
        assert time.monotonic() < deadline, "the quiet segment was not uploaded"
        time.sleep(0.1)
    assert b.stop() == 0
    for f in glob.glob(os.path.join(b.data_dir, "wal", "*")):
        os.remove(f)
    b.start()
    c = Conn(b.bootstrap)
    try:
        for v in (4, 16):
            ids = metadata(c, [topic])[topic][0] if v >= 13 else topic
            first = fetch(c, v, [(ids, [(0, 0, 1, -1)])])
            assert first["parts"][0][3] == 3, first  # everything came back from the objects
            check_kip74(c, v, ids, first["parts"][0][4][0][2])
    finally:
        c.close()


# ---- topic ids ----

@pytest.mark.parametrize("v", [13, 16])
def test_known_topic_id_unknown_partition(broker, v):
    topic = create_topic(broker.bootstrap, unique("tid"), 2)
    c = Conn(broker.bootstrap)
    try:
        tid = metadata(c, [topic])[topic][0]
        res = fetch(c, v, [(tid, [(0, 0, MiB, -1), (1, 0, MiB, -1), (2, 0, MiB, -1), (-1, 0, MiB, -1)]),
                           (uuid.uuid4().bytes, [(0, 0, MiB, -1)])])
        assert [(p[0], p[1], p[2]) for p in res["parts"]] == [
            (tid, 0, NONE), (tid, 1, NONE), (tid, 2, UNKNOWN_TOPIC_OR_PARTITION),
            (tid, -1, UNKNOWN_TOPIC_OR_PARTITION)] + [(res["parts"][4][0], 0, UNKNOWN_TOPIC_ID)]
    finally:
        c.close()


# ---- current_leader_epoch ----

def check_epochs(c, topic, epoch, versions):
    for v in versions:
        ids = metadata(c, [topic])[topic][0] if v >= 13 else topic
        cases = [(epoch, NONE), (-1, NONE), (-7, NONE), (epoch + 1, UNKNOWN_LEADER_EPOCH),
                 (epoch + 100, UNKNOWN_LEADER_EPOCH)]
        cases += [(e, FENCED_LEADER_EPOCH) for e in range(epoch)]
        for e, want in cases:
            res = fetch(c, v, [(ids, [(0, 0, MiB, e)])], max_wait_ms=PARK_MS, min_bytes=1)
            (_, _, err, _, batches), = res["parts"]
            assert err == want, (v, e, epoch, err)
            assert bool(batches) == (want == NONE), (v, e, batches)
        # an epoch error on one partition does not hide the others' records
        res = fetch(c, v, [(ids, [(0, 0, MiB, epoch + 1), (0, 0, MiB, epoch)])])
        assert [(p[2], len(p[4])) for p in res["parts"]] == [(UNKNOWN_LEADER_EPOCH, 0), (NONE, 1)]


def test_current_leader_epoch(broker):
    topic = create_topic(broker.bootstrap, unique("epoch"), 1)
    produce_batches(broker.bootstrap, topic, 1, 1, 100)
    c = Conn(broker.bootstrap)
    try:
        epoch = metadata(c, [topic])[topic][1][0]
        check_epochs(c, topic, epoch, (9, 11, 12, 16))
    finally:
        c.close()


def test_fenced_leader_epoch(tmp_path, broker_factory):
    """One controller, one broker: a graceful stop leaves the partition
    leaderless with a new epoch and the broker's return adopts it with
    another, so the epoch is 2 and 0 and 1 are fenced."""
    from test_controller import CTL_BIN, Controller, eps, wait_leader
    if not os.access(CTL_BIN, os.X_OK):
        pytest.skip("rustmq-controller not built")
    raft, rpc = free_port(), free_port()
    ctl = Controller(tmp_path / "c1", 1, raft, rpc, ["1@127.0.0.1:%d" % raft])
    ctl.start()
    try:
        wait_leader(eps([ctl]))
        b = broker_factory({"broker": {"id": 1}, "topics": {"auto_create": False},
                            "controller": {"endpoints": eps([ctl]), "heartbeat_interval_ms": 200,
                                           "session_timeout_ms": 2000}})
        topic = create_topic(b.bootstrap, unique("fenced"), 1)
        produce_batches(b.bootstrap, topic, 1, 1, 100)
        c = Conn(b.bootstrap)
        assert metadata(c, [topic])[topic][1] == [0]
        c.close()
        assert b.stop() == 0
        b.start()
        deadline = time.monotonic() + 20
        while True:
            c = Conn(b.bootstrap)
            epochs = metadata(c, [topic])[topic][1]
            if epochs[0] >= 2:
                break
            c.close()
            assert time.monotonic() < deadline, "leader epoch still %s" % epochs
            time.sleep(0.1)
        try:
            check_epochs(c, topic, epochs[0], (9, 16))
        finally:
            c.close()
    finally:
        broker_factory.close()  # brokers first: their controlled shutdown needs the quorum
        broker_factory.brokers.clear()
        ctl.stop()


# ---- fetch sessions ----

@pytest.mark.parametrize("v", [7, 11, 12, 16])
def test_unknown_fetch_session(broker, v):
    topic = create_topic(broker.bootstrap, unique("sess"), 1)
    produce_batches(broker.bootstrap, topic, 1, 1, 100)
    c = Conn(broker.bootstrap)
    try:
        ids = metadata(c, [topic])[topic][0] if v >= 13 else topic
        # full fetches: sessionless (-1) and "open a session" (0), whatever the id
        for sid, epoch in ((0, -1), (0, 0), (12345, -1), (12345, 0)):
            res = fetch(c, v, [(ids, [(0, 0, MiB, -1)])], session_id=sid, session_epoch=epoch)
            assert res["error"] == NONE and res["session_id"] == 0, (sid, epoch, res)
            assert [(p[1], p[2], len(p[4])) for p in res["parts"]] == [(0, NONE, 1)], (sid, epoch, res)
        # a session we never handed out, in a fetch that would otherwise wait
        for sid, epoch in ((12345, 1), (12345, 7), (0, 5), (12345, -2)):
            res = fetch(c, v, [(ids, [(0, 1, MiB, -1)])], max_wait_ms=PARK_MS, session_id=sid, session_epoch=epoch)
            assert res["error"] == FETCH_SESSION_ID_NOT_FOUND and res["session_id"] == 0, (sid, epoch, res)
            assert res["parts"] == [], (sid, epoch, res)
    finally:
        c.close()


def test_librdkafka_consumes_without_sessions(broker):
    """librdkafka 2.0.2 sends session id 0 / epoch -1 (no sessions): it
    keeps reading, across several fetches."""
    topic = create_topic(broker.bootstrap, unique("rdk"), 2)
    log = produce_all(producer(broker.bootstrap), topic,
                      ({"value": b"v%d" % i, "partition": i % 2} for i in range(200)))
    assert not log.failed
    c = consumer(broker.bootstrap, **{"fetch.max.bytes": 2048, "max.partition.fetch.bytes": 1024, "message.max.bytes": 1000,
                                      "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, q, 0) for q in range(2)])
        got, eof = {0: [], 1: []}, set()
        deadline = time.monotonic() + 30
        while len(eof) < 2 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                eof.add(m.partition())
                continue
            got[m.partition()].append(m.offset())
        assert got == {0: list(range(100)), 1: list(range(100))}
    finally:
        c.close()

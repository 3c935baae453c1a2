"""Kafka APIs the Python clients here do not send, hand-encoded from
shared/kafka-protocol/messages and sent to the real broker:

- Fetch long polling: a fetch waiting on an empty partition is answered
  when a record arrives (with a max_wait of two minutes, far longer than the
  socket timeout, so only the new data can have woken it); min_bytes holds
  the answer back until enough bytes are there; an expired max_wait answers
  empty; partition_max_bytes limits the records to whole batches, but always
  returns the first one (KIP-74).
- DescribeCluster v0 and v1: cluster id, controller and this broker's
  registered address.
- IncrementalAlterConfigs v0 (classic) and v1 (flexible): SET, DELETE back to
  the default (checked with confluent-kafka's DescribeConfigs), an invalid
  value (INVALID_CONFIG), an unknown topic (UNKNOWN_TOPIC_OR_PARTITION) and
  validate_only (nothing changes).
"""
import select
import socket
import struct
import threading
import time

from confluent_kafka.admin import ConfigResource

from helpers import (Reader, _compact_str, _uvarint, admin, create_topic, frame, produce_all,
                     producer, recv_frame, unique)

FETCH, INCREMENTAL_ALTER_CONFIGS, DESCRIBE_CLUSTER = 1, 44, 60
NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG = 0, 3, 40
TOPIC_RESOURCE = 2
SET, DELETE = 0, 1


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _nstr(s):
    return struct.pack(">h", -1) if s is None else _str(s)


def _compact_nstr(s):
    return b"\x00" if s is None else _compact_str(s)


def header(api, version, corr, flexible):
    cid = b"itest"
    return struct.pack(">hhih", api, version, corr, len(cid)) + cid + (b"\x00" if flexible else b"")


class Conn:
    def __init__(self, bootstrap, timeout=30):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0

    def send(self, api, version, body, flexible):
        self.corr += 1
        self.s.sendall(frame(header(api, version, self.corr, flexible) + body))
        return self.corr

    def recv(self, corr, flexible):
        r = Reader(recv_frame(self.s))
        assert r.i32() == corr
        if flexible:
            r.skip_tags()
        return r

    def pending(self, wait_s):
        """True if a response started arriving within wait_s."""
        return bool(select.select([self.s], [], [], wait_s)[0])

    def close(self):
        self.s.close()


def i64(r):
    return struct.unpack(">q", r.take(8))[0]


# ---- Fetch v4 (classic encoding) ----

def fetch_request(topic, partition, offset, max_wait_ms, min_bytes, max_bytes=1 << 20,
                  partition_max_bytes=1 << 20):
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, max_bytes, 0)
    body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", partition, offset, partition_max_bytes)
    return body


def parse_fetch(r):
    """-> (error code, high watermark, [(base offset, last offset, batch bytes)])"""
    r.i32()  # throttle
    assert r.i32() == 1
    r.take(r.i16())
    assert r.i32() == 1
    r.i32()  # partition
    err = r.i16()
    hw = i64(r)
    i64(r)  # last stable offset
    n_aborted = r.i32()
    for _ in range(max(n_aborted, 0)):
        r.take(16)
    n = r.i32()
    recs = r.take(n) if n > 0 else b""
    assert r.done()
    batches, o = [], 0
    while o + 12 <= len(recs):
        base, length = struct.unpack_from(">qi", recs, o)
        if o + 12 + length > len(recs):
            break  # a partial batch at the end of the limit
        last_delta = struct.unpack_from(">i", recs, o + 23)[0]
        batches.append((base, base + last_delta, 12 + length))
        o += 12 + length
    return err, hw, batches


def produce_one(bootstrap, topic, value, partition=0):
    log = produce_all(producer(bootstrap, **{"acks": "all", "linger.ms": 0}), topic,
                      [{"value": value, "partition": partition}])
    assert not log.failed


def test_fetch_is_woken_by_new_data(broker):
    topic = create_topic(broker.bootstrap, unique("longpoll"), 1)
    c = Conn(broker.bootstrap)
    try:
        corr = c.send(FETCH, 4, fetch_request(topic, 0, 0, max_wait_ms=120000, min_bytes=1), False)
        assert not c.pending(0.5), "an empty partition answered a fetch before max_wait"
        threading.Timer(0.3, produce_one, (broker.bootstrap, topic, b"wake-up")).start()
        err, hw, batches = parse_fetch(c.recv(corr, False))  # the socket times out after 30 s
        assert err == NONE and hw == 1
        assert [(b, l) for b, l, _ in batches] == [(0, 0)]
    finally:
        c.close()


def test_fetch_min_bytes_and_max_wait(broker):
    topic = create_topic(broker.bootstrap, unique("minbytes"), 1)
    c = Conn(broker.bootstrap)
    try:
        # max_wait expires on an empty partition: an empty answer, no error
        corr = c.send(FETCH, 4, fetch_request(topic, 0, 0, max_wait_ms=200, min_bytes=1), False)
        assert parse_fetch(c.recv(corr, False)) == (NONE, 0, [])
        # min_bytes: one 1 KiB record is not enough for 3000 bytes
        corr = c.send(FETCH, 4, fetch_request(topic, 0, 0, max_wait_ms=120000, min_bytes=3000), False)
        produce_one(broker.bootstrap, topic, b"a" * 1024)
        assert not c.pending(1.0), "answered with fewer than min_bytes before max_wait"
        produce_one(broker.bootstrap, topic, b"b" * 1024)
        produce_one(broker.bootstrap, topic, b"c" * 1024)
        err, hw, batches = parse_fetch(c.recv(corr, False))
        assert err == NONE and hw == 3
        assert [b for b, _, _ in batches] == [0, 1, 2]
        assert sum(n for _, _, n in batches) >= 3000
    finally:
        c.close()


def test_fetch_partition_max_bytes(broker):
    topic = create_topic(broker.bootstrap, unique("maxbytes"), 1)
    for i in range(6):
        produce_one(broker.bootstrap, topic, bytes([65 + i]) * 1000)  # one batch each
    c = Conn(broker.bootstrap)
    try:
        corr = c.send(FETCH, 4, fetch_request(topic, 0, 0, 0, 1, partition_max_bytes=2500), False)
        err, hw, batches = parse_fetch(c.recv(corr, False))
        assert err == NONE and hw == 6
        assert 1 <= len(batches) <= 2 and [b for b, _, _ in batches] == list(range(len(batches)))
        assert sum(n for _, _, n in batches) <= 2500
        # a limit below one batch still returns that batch whole (KIP-74)
        corr = c.send(FETCH, 4, fetch_request(topic, 0, 3, 0, 1, partition_max_bytes=10), False)
        err, _, batches = parse_fetch(c.recv(corr, False))
        assert err == NONE and [b for b, _, _ in batches] == [3] and batches[0][2] > 1000
    finally:
        c.close()


# ---- DescribeCluster (flexible from v0) ----

def test_describe_cluster(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    c = Conn(broker.bootstrap)
    try:
        for version in (0, 1):
            body = b"\x00" + (b"\x01" if version >= 1 else b"") + b"\x00"  # no authorized ops, brokers
            corr = c.send(DESCRIBE_CLUSTER, version, body, True)
            r = c.recv(corr, True)
            r.i32()  # throttle
            assert r.i16() == NONE
            msg_len = r.uvarint()
            if msg_len:
                r.take(msg_len - 1)
            if version >= 1:
                assert r.take(1) == b"\x01"  # endpoint type: brokers
            cluster_id = r.take(r.uvarint() - 1).decode()
            controller = r.i32()
            brokers = []
            for _ in range(r.uvarint() - 1):
                bid = r.i32()
                bhost = r.take(r.uvarint() - 1).decode()
                bport = r.i32()
                rack = r.uvarint()
                if rack:
                    r.take(rack - 1)
                r.skip_tags()
                brokers.append((bid, bhost, bport))
            r.i32()  # cluster authorized operations
            r.skip_tags()
            assert r.done()
            assert len(cluster_id) == 22, cluster_id  # base64 of a 16-byte uuid, like Kafka's
            assert brokers == [(controller, host, int(port))], (brokers, controller)
        # KIP-919: asking a broker for controllers is MISMATCHED_ENDPOINT_TYPE
        # (114), an unknown type UNSUPPORTED_ENDPOINT_TYPE (115); no brokers
        for etype, code in ((2, 114), (3, 115)):
            corr = c.send(DESCRIBE_CLUSTER, 1, b"\x00" + bytes([etype]) + b"\x00", True)
            r = c.recv(corr, True)
            r.i32()  # throttle
            assert r.i16() == code, etype
            msg_len = r.uvarint()
            assert msg_len > 1, "no error message"
            r.take(msg_len - 1)
            assert r.take(1) == bytes([etype])
            assert r.uvarint() == 1  # cluster id: "" (not null: the field is not nullable)
            assert r.i32() == -1  # controller id
            assert r.uvarint() - 1 == 0, "brokers listed with an error"
            r.i32()  # cluster authorized operations
            r.skip_tags()
            assert r.done()
    finally:
        c.close()


# ---- IncrementalAlterConfigs v0 (classic) and v1 (flexible) ----

def iac_request(version, resources, validate_only=False):
    """resources: [(topic, [(name, op, value)])]"""
    flex = version >= 1
    arr = (lambda n: _uvarint(n + 1)) if flex else (lambda n: struct.pack(">i", n))
    s = _compact_str if flex else _str
    ns = _compact_nstr if flex else _nstr
    tag = b"\x00" if flex else b""
    body = arr(len(resources))
    for topic, configs in resources:
        body += struct.pack(">b", TOPIC_RESOURCE) + s(topic) + arr(len(configs))
        for name, op, value in configs:
            body += s(name) + struct.pack(">b", op) + ns(value) + tag
        body += tag
    return body + struct.pack(">b", 1 if validate_only else 0) + tag


def iac(c, version, resources, validate_only=False):
    flex = version >= 1
    corr = c.send(INCREMENTAL_ALTER_CONFIGS, version, iac_request(version, resources, validate_only), flex)
    r = c.recv(corr, flex)
    r.i32()  # throttle
    out = {}
    for _ in range(r.uvarint() - 1 if flex else r.i32()):
        err = r.i16()
        n = r.uvarint() - 1 if flex else r.i16()
        msg = r.take(n).decode() if n > 0 else None
        assert r.take(1)[0] == TOPIC_RESOURCE
        name = r.take(r.uvarint() - 1 if flex else r.i16()).decode()
        if flex:
            r.skip_tags()
        out[name] = (err, msg)
    if flex:
        r.skip_tags()
    assert r.done()
    return out


def topic_config(bootstrap, topic, key):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    a = admin(bootstrap)  # kept alive until the result is in
    entries = a.describe_configs([res])[res].result(timeout=30)
    e = entries[key]
    return e.value, e.is_default


def test_incremental_alter_configs(broker):
    topic = create_topic(broker.bootstrap, unique("iac"), 1)
    c = Conn(broker.bootstrap)
    try:
        for version, value in ((0, "12345"), (1, "67890")):
            assert iac(c, version, [(topic, [("retention.ms", SET, value)])]) == {topic: (NONE, None)}
            assert topic_config(broker.bootstrap, topic, "retention.ms") == (value, False)
        # validate_only: accepted, nothing changes
        assert iac(c, 1, [(topic, [("retention.ms", SET, "1")])], validate_only=True)[topic][0] == NONE
        assert topic_config(broker.bootstrap, topic, "retention.ms") == ("67890", False)
        # an invalid value and an unknown topic fail alone, with Kafka's codes
        got = iac(c, 1, [(topic, [("cleanup.policy", SET, "shred")]),
                         ("no-such-topic", [("retention.ms", SET, "1")])])
        assert got[topic][0] == INVALID_CONFIG and "cleanup.policy" in (got[topic][1] or ""), got
        assert got["no-such-topic"][0] == UNKNOWN_TOPIC_OR_PARTITION, got
        assert topic_config(broker.bootstrap, topic, "retention.ms") == ("67890", False)
        # DELETE returns the key to its default
        assert iac(c, 0, [(topic, [("retention.ms", DELETE, None)])]) == {topic: (NONE, None)}
        value, is_default = topic_config(broker.bootstrap, topic, "retention.ms")
        assert is_default and value != "67890", (value, is_default)
    finally:
        c.close()

"""Produce validation on the wire: the batches Kafka refuses, refused the same
way, with nothing appended.

- Produce v3+ carries exactly one record batch per partition: two batches (or
  stray bytes after one) get INVALID_RECORD and nothing is appended, also when
  the second idempotent batch would have failed its sequence check.
- Batches clients may not write: a control batch and a producer id without a
  sequence get INVALID_RECORD; a transactional batch without a
  transactional_id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED for the whole
  request. A plain non-idempotent batch (producer id -1, sequence -1) passes.
- A compacted topic (cleanup.policy containing "compact") refuses records
  without a key, compressed or not, raw and from librdkafka; v8 lists each
  keyless record in record_errors.
- zstd needs Produce v7: v3..v6 get UNSUPPORTED_COMPRESSION_TYPE.
- An empty or null records field gets INVALID_RECORD.
- A failed acks=0 produce closes the connection (with a log line naming the
  peer and the reason); a duplicate idempotent batch is answered with the
  partition's real log start offset.
- The stored batch carries the leader's epoch in partitionLeaderEpoch (the
  producer sends -1), as Kafka's leader stamps it; its CRC still holds.

Frames are encoded by hand (Produce v3..v8, classic encoding) from
shared/kafka-protocol/messages/Produce*.json; record batches are built here
so every header field can be set.
"""
import gzip
import socket
import struct
import subprocess

import pytest
from confluent_kafka import KafkaError

from helpers import (Reader, _uvarint, create_topic, frame, high_watermarks, produce_all, producer,
                     recv_frame, unique, wait_closed_by_peer)
from kafka.record.util import calc_crc32c
from test_delete_records import delete_records
from test_produce_acks import init_producer_id

PRODUCE = 0
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87

CODEC_GZIP, CODEC_ZSTD = 1, 4
ATTR_TRANSACTIONAL, ATTR_CONTROL = 0x10, 0x20


# ------------------------------------------------------------ encoding

def _varint(n):
    """Kafka's signed varint: zigzag, then the unsigned one."""
    return _uvarint((n << 1) ^ (n >> 63))


def _bytes(v):
    return _varint(-1) if v is None else _varint(len(v)) + v


def _compress(codec, data):
    if codec == 0:
        return data
    if codec == CODEC_GZIP:
        return gzip.compress(data)
    if codec == CODEC_ZSTD:
        return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    raise ValueError(codec)


def batch(values, keys=None, codec=0, pid=-1, epoch=-1, seq=-1, attrs=0, ts=1_700_000_000_000):
    """One RecordBatch v2 holding values (keys: same length, None = null key)."""
    keys = keys if keys is not None else [None] * len(values)
    recs = b""
    for i, (k, v) in enumerate(zip(keys, values)):
        body = b"\x00" + _varint(i) + _varint(i) + _bytes(k) + _bytes(v) + _varint(0)
        recs += _varint(len(body)) + body
    recs = _compress(codec, recs)
    n = len(values)
    after_crc = struct.pack(">hiqqqhii", codec | attrs, n - 1, ts, ts + n - 1, pid, epoch, seq, n) + recs
    crc = calc_crc32c(after_crc)
    head = struct.pack(">ibI", -1, 2, crc)  # partitionLeaderEpoch, magic, crc
    return struct.pack(">qi", 0, len(head) + len(after_crc)) + head + after_crc


def _str(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def produce_request(version, corr, topics, acks=-1, transactional_id=None):
    """topics: {name: {partition: records bytes or None}} -> a frame
    (Produce v3..v8: classic encoding, request header v1)."""
    assert 3 <= version <= 8
    cid = b"itest"
    body = _str(transactional_id) + struct.pack(">hii", acks, 10000, len(topics))
    for name, parts in topics.items():
        body += _str(name) + struct.pack(">i", len(parts))
        for p, recs in parts.items():
            body += struct.pack(">i", p)
            body += struct.pack(">i", -1) if recs is None else struct.pack(">i", len(recs)) + recs
    return frame(struct.pack(">hhih", PRODUCE, version, corr, len(cid)) + cid + body)


def parse_produce_response(version, corr, payload):
    """-> {(topic, partition): dict(error_code, base_offset, log_append_time_ms,
    log_start_offset, error_message)}"""
    r = Reader(payload)
    assert r.i32() == corr
    out = {}
    for _ in range(r.i32()):
        name = r.take(r.i16()).decode()
        for _ in range(r.i32()):
            p, err = r.i32(), r.i16()
            base, lat = struct.unpack(">qq", r.take(16))
            lso = struct.unpack(">q", r.take(8))[0] if version >= 5 else None
            msg, rec_errs = None, None
            if version >= 8:
                rec_errs = []
                for _ in range(r.i32()):
                    idx = r.i32()
                    n = r.i16()
                    rec_errs.append((idx, r.take(n).decode() if n >= 0 else None))
                n = r.i16()
                msg = r.take(n).decode() if n >= 0 else None
            out[(name, p)] = {"error_code": err, "base_offset": base, "log_append_time_ms": lat,
                              "log_start_offset": lso, "error_message": msg, "record_errors": rec_errs}
    r.i32()  # throttle_time_ms
    assert r.done()
    return out


def _connect(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=15)


def produce_multi(bootstrap, topics, version=8, **kw):
    with _connect(bootstrap) as s:
        s.sendall(produce_request(version, 7, topics, **kw))
        return parse_produce_response(version, 7, recv_frame(s))


def produce(bootstrap, topic, records, version=8, partition=0, **kw):
    return produce_multi(bootstrap, {topic: {partition: records}}, version, **kw)[(topic, partition)]


def hw(b, topic, partition=0):
    return high_watermarks(b.bootstrap, topic, partition + 1)[partition][1]


# ------------------------------------------------------------ tests

def test_more_than_one_batch_is_refused_whole(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-multi"), 1)
    r = produce(b.bootstrap, topic, batch([b"a"]) + batch([b"b"]))
    assert r["error_code"] == INVALID_RECORD and r["base_offset"] == -1, r
    assert "exactly one" in r["error_message"], r
    # stray bytes after a batch: not a second batch, but not one batch either
    r = produce(b.bootstrap, topic, batch([b"a"]) + b"\x00\x01\x02")
    assert r["error_code"] == INVALID_RECORD, r
    # idempotent: the second batch would fail its sequence check; the first
    # must not be appended meanwhile (it was, before: error reported, data in)
    pid, epoch = init_producer_id(b.bootstrap)
    r = produce(b.bootstrap, topic, batch([b"s0"], pid=pid, epoch=epoch, seq=0) +
                batch([b"s7"], pid=pid, epoch=epoch, seq=7))
    assert r["error_code"] == INVALID_RECORD, r
    assert hw(b, topic) == 0
    # the producer's state did not move either: sequence 0 is still next
    r = produce(b.bootstrap, topic, batch([b"s0"], pid=pid, epoch=epoch, seq=0))
    assert (r["error_code"], r["base_offset"]) == (NONE, 0), r
    assert hw(b, topic) == 1


def test_batches_clients_may_not_write(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-client"), 1)
    r = produce(b.bootstrap, topic, batch([b"x"], attrs=ATTR_CONTROL))
    assert r["error_code"] == INVALID_RECORD and "control" in r["error_message"], r
    r = produce(b.bootstrap, topic, batch([b"x"], pid=4242, epoch=0, seq=-1))
    assert r["error_code"] == INVALID_RECORD and "sequence" in r["error_message"], r
    assert hw(b, topic) == 0
    # what librdkafka sends without idempotence: producer id -1, sequence -1
    r = produce(b.bootstrap, topic, batch([b"plain"], pid=-1, epoch=-1, seq=-1))
    assert (r["error_code"], r["base_offset"]) == (NONE, 0), r
    assert hw(b, topic) == 1


def test_transactional_batch_without_transactional_id(module_broker):
    """Kafka refuses the whole request, every partition, like a request
    carrying a transactional_id (transactions are not supported)."""
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-txn"), 2)
    out = produce_multi(b.bootstrap, {topic: {
        0: batch([b"t"], pid=4243, epoch=0, seq=0, attrs=ATTR_TRANSACTIONAL),
        1: batch([b"plain"])}})
    for p in (0, 1):
        assert out[(topic, p)]["error_code"] == TRANSACTIONAL_ID_AUTHORIZATION_FAILED, out
        assert "transactional" in out[(topic, p)]["error_message"], out
    assert high_watermarks(b.bootstrap, topic, 2) == {0: (0, 0), 1: (0, 0)}
    # and with a transactional_id, as before
    r = produce(b.bootstrap, topic, batch([b"plain"]), transactional_id="tx")
    assert r["error_code"] == TRANSACTIONAL_ID_AUTHORIZATION_FAILED, r


@pytest.mark.parametrize("policy", ["compact", "compact,delete", "delete, compact"])
def test_compacted_topic_requires_keys(module_broker, policy):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-compact"), 1, config={"cleanup.policy": policy})
    for codec in (0, CODEC_GZIP):
        r = produce(b.bootstrap, topic, batch([b"a", b"no key"], keys=[b"k", None], codec=codec))
        assert r["error_code"] == INVALID_RECORD, (codec, r)
        assert "without key" in r["error_message"], r
        # v8 names every keyless record by its index in the batch
        r = produce(b.bootstrap, topic, batch([b"a", b"b", b"c", b"d"], keys=[None, b"k", None, None], codec=codec))
        assert r["error_code"] == INVALID_RECORD, (codec, r)
        assert [i for i, _ in r["record_errors"]] == [0, 2, 3], r
        assert all("without key in topic partition %s-0" % topic in m for _, m in r["record_errors"]), r
        r = produce(b.bootstrap, topic, batch([b"a", b"no key"], keys=[b"k", None], codec=codec), version=7)
        assert r["error_code"] == INVALID_RECORD and r["record_errors"] is None, r
    assert hw(b, topic) == 0
    r = produce(b.bootstrap, topic, batch([b"a", b"b"], keys=[b"k", b""]))  # an empty key is a key
    assert (r["error_code"], r["base_offset"]) == (NONE, 0), r


def test_delete_topic_takes_null_keys(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-delete"), 1)
    r = produce(b.bootstrap, topic, batch([b"a", b"b"]))
    assert (r["error_code"], r["base_offset"]) == (NONE, 0), r


def test_policy_change_applies_to_next_produce(module_broker):
    """The broker caches a partition's topic config; an altered cleanup.policy
    must reach the next produce both ways."""
    from confluent_kafka.admin import ConfigResource
    from helpers import admin
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-policy"), 1)
    a = admin(b.bootstrap)

    def set_policy(v):
        res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"cleanup.policy": v})
        for f in a.alter_configs([res]).values():
            f.result(timeout=30)

    assert produce(b.bootstrap, topic, batch([b"a"]))["error_code"] == NONE
    set_policy("compact")
    assert produce(b.bootstrap, topic, batch([b"b"]))["error_code"] == INVALID_RECORD
    set_policy("delete")
    r = produce(b.bootstrap, topic, batch([b"c"]))
    assert (r["error_code"], r["base_offset"]) == (NONE, 1), r


def test_compacted_topic_keyless_from_librdkafka(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-compact-rk"), 1, config={"cleanup.policy": "compact"})
    p = producer(b.bootstrap, **{"message.timeout.ms": 10000})
    log = produce_all(p, topic, [{"value": b"keyed", "key": b"k"}])
    assert not log.failed and log.ok[0][2] == 0
    log = produce_all(p, topic, [{"value": b"keyless"}])
    assert [e.code() for _, e in log.failed] == [KafkaError.INVALID_RECORD], log.failed
    assert hw(b, topic) == 1


@pytest.mark.parametrize("version", [3, 4, 5, 6, 7, 8])
def test_zstd_needs_produce_v7(module_broker, version):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-zstd"), 1)
    r = produce(b.bootstrap, topic, batch([b"z" * 100, b"y" * 50], codec=CODEC_ZSTD), version=version)
    if version < 7:
        assert r["error_code"] == UNSUPPORTED_COMPRESSION_TYPE and r["base_offset"] == -1, r
        assert hw(b, topic) == 0
    else:
        assert (r["error_code"], r["base_offset"]) == (NONE, 0), r
        assert hw(b, topic) == 2
    # other codecs are fine at any version
    r = produce(b.bootstrap, topic, batch([b"g"], codec=CODEC_GZIP), version=version)
    assert r["error_code"] == NONE, r


@pytest.mark.parametrize("records", [b"", None], ids=["empty", "null"])
def test_no_records(module_broker, records):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-empty"), 1)
    r = produce(b.bootstrap, topic, records)
    assert r["error_code"] == INVALID_RECORD and r["base_offset"] == -1, r


@pytest.mark.parametrize("case", ["unknown-partition", "control-batch"])
def test_failed_acks0_produce_closes_connection(module_broker, case):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-acks0"), 1)
    part, recs = (9, batch([b"x"])) if case == "unknown-partition" else (0, batch([b"x"], attrs=ATTR_CONTROL))
    with _connect(b.bootstrap) as s:
        # an acks=0 produce that fails, then a request that would be answered
        s.sendall(produce_request(3, 1, {topic: {part: recs}}, acks=0) +
                  produce_request(3, 2, {topic: {0: batch([b"after"])}}, acks=-1))
        closed, got = wait_closed_by_peer(s)
    assert closed and got == b"", (closed, got)
    line = b.wait_log(lambda t: 'reason="acks=0 produce failed' in t and "topic=%s partition=%d" % (topic, part) in t)
    assert line and "peer=127.0.0.1:" in line, line
    # a successful acks=0 produce keeps the connection (test_produce_acks too)
    with _connect(b.bootstrap) as s:
        s.sendall(produce_request(3, 1, {topic: {0: batch([b"ok"])}}, acks=0) +
                  produce_request(3, 2, {topic: {0: batch([b"after"])}}, acks=-1))
        out = parse_produce_response(3, 2, recv_frame(s))
        assert out[(topic, 0)]["error_code"] == NONE, out


def test_duplicate_batch_reports_log_start_offset(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-dup"), 1)
    pid, epoch = init_producer_id(b.bootstrap)
    for seq in range(3):
        r = produce(b.bootstrap, topic, batch([b"v%d" % seq], pid=pid, epoch=epoch, seq=seq))
        assert (r["error_code"], r["base_offset"], r["log_start_offset"]) == (NONE, seq, 0), r
    assert delete_records(b.bootstrap, {topic: {0: 2}})[(topic, 0)] == (2, NONE)
    r = produce(b.bootstrap, topic, batch([b"v2"], pid=pid, epoch=epoch, seq=2))
    assert (r["error_code"], r["base_offset"], r["log_start_offset"]) == (NONE, 2, 2), r
    assert hw(b, topic) == 3


def test_duplicate_batch_reports_log_append_time(module_broker):
    """On a LogAppendTime topic the duplicate is answered with the time the
    original was appended at (Kafka's BatchMetadata timestamp), not -1."""
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-lat"), 1, config={"message.timestamp.type": "LogAppendTime"})
    pid, epoch = init_producer_id(b.bootstrap)
    first = produce(b.bootstrap, topic, batch([b"x"], pid=pid, epoch=epoch, seq=0, ts=1))
    assert first["error_code"] == NONE and first["base_offset"] == 0 and first["log_append_time_ms"] > 1, first
    again = produce(b.bootstrap, topic, batch([b"x"], pid=pid, epoch=epoch, seq=0, ts=1))
    assert (again["error_code"], again["base_offset"], again["log_append_time_ms"]) == (
        NONE, 0, first["log_append_time_ms"]), again
    assert hw(b, topic) == 1


def fetch_raw(bootstrap, topic, partition=0, offset=0):
    """Fetch v4 with kafka-python's encoder on a raw socket -> the records
    bytes of one partition, exactly as the broker sent them."""
    from kafka.protocol.fetch import FetchRequest
    from kafka.protocol.parser import KafkaProtocol
    proto = KafkaProtocol(client_id="itest-raw")
    proto.send_request(FetchRequest[4](-1, 100, 1, 1 << 20, 0, [(topic, [(partition, offset, 1 << 20)])]))
    with _connect(bootstrap) as s:
        s.sendall(proto.send_bytes())
        while True:
            data = s.recv(65536)
            assert data, "broker closed the connection"
            resps = proto.receive_bytes(data)
            if resps:
                (name, parts), = resps[0][1].topics
                (pidx, err, *_rest, records), = parts
                assert (name, pidx, err) == (topic, partition, NONE)
                return records


def test_stored_batch_carries_leader_epoch(module_broker):
    b = module_broker
    topic = create_topic(b.bootstrap, unique("pv-ple"), 1)
    sent = batch([b"a", b"b"], keys=[b"k", b"k"])
    assert struct.unpack(">i", sent[12:16])[0] == -1
    assert produce(b.bootstrap, topic, sent)["error_code"] == NONE
    got = fetch_raw(b.bootstrap, topic)
    assert len(got) == len(sent)
    # Metadata's leader epoch of a single broker's partition is 0
    from test_list_offsets_metadata import Conn, metadata
    c = Conn(b.bootstrap)
    try:
        (_, _, _, parts), = metadata(c, 12, [(topic, b"\x00" * 16)])
    finally:
        c.close()
    assert struct.unpack(">i", got[12:16])[0] == parts[0][1] == 0
    # only the offset and the epoch differ; the CRC (from the attributes on) holds
    assert got[16:] == sent[16:] and got[8:12] == sent[8:12]
    assert struct.unpack(">I", got[17:21])[0] == calc_crc32c(got[21:])

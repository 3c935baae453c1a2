"""Error paths: unknown topics with auto-creation off, and malformed frames on
raw sockets. A bad connection must be closed (and logged with its peer and
the problem) while other clients keep producing and consuming."""
import re
import socket
import struct

import pytest
from confluent_kafka import KafkaError
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.produce import ProduceRequest
from kafka.record.memory_records import MemoryRecordsBuilder

from helpers import (admin, api_versions_request, create_topic, frame, produce_all,
                     producer, read_partitions, recv_frame, unique,
                     wait_closed_by_peer)

MAX_FRAME = 1024 * 1024
BROKER_CONFIG = {
    "topics": {"auto_create": False, "max_message_bytes": MAX_FRAME // 2},
    "network": {"max_frame_bytes": MAX_FRAME},
}


def kp_call(bootstrap, request, timeout=15):
    """Send one request with kafka-python's protocol encoder on a raw socket
    and return the decoded response."""
    host, port = bootstrap.split(":")
    proto = KafkaProtocol(client_id="itest-raw")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        proto.send_request(request)
        s.sendall(proto.send_bytes())
        while True:
            data = s.recv(65536)
            assert data, "broker closed the connection instead of answering %s" % type(request).__name__
            resps = proto.receive_bytes(data)
            if resps:
                return resps[0][1]


# ------------------------------------------------------------ unknown topics

def test_metadata_unknown_topic(module_broker):
    b = module_broker
    name = unique("unknown")
    # Metadata v4 even asks for auto-creation; the broker config forbids it
    r = kp_call(b.bootstrap, MetadataRequest[4](topics=[name], allow_auto_topic_creation=True))
    topics = {t[1]: t for t in r.topics}
    assert topics[name][0] == KafkaError.UNKNOWN_TOPIC_OR_PART, r
    # librdkafka sees the same
    md = admin(b.bootstrap).list_topics(topic=name, timeout=10)
    assert md.topics[name].error is not None
    assert md.topics[name].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # and it was not created as a side effect
    assert name not in admin(b.bootstrap).list_topics(timeout=10).topics
    assert 'msg="auto-created topic"' not in b.log_text()


def test_produce_unknown_topic_raw(module_broker):
    b = module_broker
    name = unique("unknown")
    mb = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    mb.append(timestamp=1_700_000_000_000, key=b"k", value=b"v", headers=[])
    mb.close()
    req = ProduceRequest[3](transactional_id=None, required_acks=-1, timeout=10000,
                            topics=[(name, [(0, mb.buffer())])])
    r = kp_call(b.bootstrap, req)
    (topic, parts), = r.topics
    assert topic == name
    (pidx, err, *_rest), = parts
    assert pidx == 0
    assert err == KafkaError.UNKNOWN_TOPIC_OR_PART, r


def test_produce_unknown_topic_confluent(module_broker):
    b = module_broker
    name = unique("unknown")
    p = producer(b.bootstrap, **{"message.timeout.ms": 10000,
                                 "topic.metadata.propagation.max.ms": 1000})
    log = produce_all(p, name, [{"value": b"x"}], timeout=30)
    assert log.ok == []
    (_, err), = log.failed
    assert err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), err
    assert name not in admin(b.bootstrap).list_topics(timeout=10).topics


# ------------------------------------------------------------ malformed frames

@pytest.fixture(scope="module")
def healthy(module_broker):
    """A topic and a long-lived producer standing for 'another client'."""
    topic = create_topic(module_broker.bootstrap, unique("healthy"), 1)
    p = producer(module_broker.bootstrap, **{"linger.ms": 0})
    return topic, p


def check_healthy(b, healthy, tag):
    topic, p = healthy
    value = b"after-" + tag.encode()
    log = produce_all(p, topic, [{"value": value, "partition": 0}], timeout=30)
    assert log.failed == [], "healthy client failed after %s: %s" % (tag, log.failed)
    off = log.ok[0][2]
    got = read_partitions(b.bootstrap, topic, {0: off}, timeout=30)[0]
    assert [m.value() for m in got] == [value]


def _truncated_api_versions():
    full = api_versions_request(3, 7)
    body = full[4:-3]  # drop the tagged-field byte and two bytes of the version string
    return frame(body)


def _bad_api_key():
    hdr = struct.pack(">hhih", 0x7777, 0, 1, 5) + b"itest"
    return frame(hdr + b"\x00" * 8)


CASES = {
    # name: (bytes to send, half-close after sending, log reason pattern)
    "http_garbage": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", False, r"size|frame"),
    "negative_size": (struct.pack(">i", -5) + b"abcdefgh", False, r"size|frame"),
    "zero_size": (struct.pack(">i", 0) + b"abcdefgh", False, r"size|frame"),
    "oversized": (struct.pack(">i", MAX_FRAME + 1) + b"\x00" * 64, False, r"size|frame|large"),
    "huge_size": (struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 64, False, r"size|frame|large"),
    "bad_api_key": (_bad_api_key(), False, r"unsupported|unknown|api"),
    "truncated_body": (_truncated_api_versions(), False, r"malformed|truncat"),
    "truncated_frame_eof": (struct.pack(">i", 100) + b"\x00\x12\x00\x00" + b"x" * 16, True,
                            r"mid-frame|truncat|incomplete"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_frame_closes_connection(module_broker, healthy, case):
    b = module_broker
    data, half_close, reason = CASES[case]
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    try:
        peer = "127.0.0.1:%d" % s.getsockname()[1]
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        closed, got = wait_closed_by_peer(s, timeout=15)
        assert closed, "%s: broker kept the connection open" % case
        assert got == b"", "%s: broker answered %r" % (case, got[:64])
    finally:
        s.close()
    check_healthy(b, healthy, case)
    line = b.wait_log(lambda l: re.search(r"peer=%s(\s|$)" % re.escape(peer), l) is not None, timeout=10)
    assert line is not None, "%s: no log line names the peer %s" % (case, peer)
    assert re.search(reason, line, re.I), "%s: log line does not name the problem: %s" % (case, line)


def test_stalled_partial_frame_does_not_block_others(module_broker, healthy):
    """A client that sent half a frame and went quiet must not hold up other
    connections; the same connection still works once it completes."""
    b = module_broker
    full = api_versions_request(0, 99)
    s = socket.create_connection(("127.0.0.1", b.port), timeout=15)
    try:
        s.sendall(full[:7])
        check_healthy(b, healthy, "stalled")
        s.sendall(full[7:])
        resp = recv_frame(s)
        assert struct.unpack(">i", resp[:4])[0] == 99
        assert struct.unpack(">h", resp[4:6])[0] == 0
    finally:
        s.close()


def test_valid_requests_after_malformed_on_other_conns(module_broker):
    """Pipelined valid requests on one connection get answered in order even
    while other connections are being rejected."""
    b = module_broker
    bad = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    good = socket.create_connection(("127.0.0.1", b.port), timeout=15)
    try:
        good.sendall(b"".join(api_versions_request(v, 1000 + v) for v in (0, 1, 2, 3)))
        bad.sendall(struct.pack(">i", -1))
        for v in (0, 1, 2, 3):
            resp = recv_frame(good)
            assert struct.unpack(">i", resp[:4])[0] == 1000 + v
        closed, _ = wait_closed_by_peer(bad, timeout=15)
        assert closed
    finally:
        bad.close()
        good.close()


def test_api_versions_newer_than_supported(module_broker):
    """KIP-511: an ApiVersions version we do not speak is answered in the v0
    layout with UNSUPPORTED_VERSION (35) and our version ranges, so the client
    can retry with one we support; the connection stays usable."""
    from helpers import parse_api_versions_response
    b = module_broker
    with socket.create_connection(("127.0.0.1", b.port), timeout=15) as s:
        for v, corr in ((9, 501), (32767, 502)):
            cid = b"itest"
            hdr = struct.pack(">hhih", 18, v, corr, len(cid)) + cid
            s.sendall(frame(hdr))
            got_corr, err, keys, _ = parse_api_versions_response(0, recv_frame(s))
            assert got_corr == corr
            assert err == 35, "ApiVersions v%d answered error %d, not UNSUPPORTED_VERSION" % (v, err)
            assert keys.get(18, (None, None))[0] == 0 and keys[18][1] >= 3, keys.get(18)
            assert 0 in keys and 1 in keys, "the version list is missing Produce/Fetch"
        s.sendall(api_versions_request(3, 503))
        got_corr, err, keys, _ = parse_api_versions_response(3, recv_frame(s))
        assert (got_corr, err) == (503, 0)

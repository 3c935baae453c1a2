"""Shared helpers for the integration suites.

Owns: hand-encoded Kafka frames for raw-socket tests (ApiVersions v0/v3 and a
response parser), and thin wrappers around confluent_kafka used by several
suites (topic creation, producing with delivery reports, reading a partition
back to its high watermark). Everything talks to 127.0.0.1 only; every wait
is bounded so a broken broker fails a test instead of hanging it.
"""
import socket
import struct
import time
import uuid

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

# ------------------------------------------------------------ raw protocol

API_VERSIONS = 18


def _uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _compact_str(s):
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def frame(body):
    """Prefix a request (header + body) with its int32 size."""
    return struct.pack(">i", len(body)) + body


def api_versions_request(version, correlation_id, client_id="itest"):
    """A complete ApiVersions request frame. v0..v2 use request header v1
    and an empty body; v3 uses header v2 (flexible) and a body with the
    client software name and version as compact strings."""
    cid = client_id.encode()
    hdr = struct.pack(">hhih", API_VERSIONS, version, correlation_id, len(cid)) + cid
    if version >= 3:
        hdr += b"\x00"  # header tagged fields
        body = _compact_str("rmq-itest") + _compact_str("1.0") + b"\x00"
    else:
        body = b""
    return frame(hdr + body)


class Reader:
    def __init__(self, data):
        self.d = data
        self.o = 0

    def take(self, n):
        if self.o + n > len(self.d):
            raise ValueError("truncated response at byte %d (need %d, have %d)"
                             % (self.o, n, len(self.d) - self.o))
        v = self.d[self.o:self.o + n]
        self.o += n
        return v

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        shift = 0
        n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 35:
                raise ValueError("varint too long")

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def done(self):
        return self.o == len(self.d)


def parse_api_versions_response(version, payload):
    """payload = response bytes after the size prefix. Returns
    (correlation_id, error_code, {api_key: (min, max)}, throttle_ms).
    ApiVersions responses always use response header v0."""
    r = Reader(payload)
    corr = r.i32()
    err = r.i16()
    keys = {}
    if version >= 3:
        n = r.uvarint() - 1
        for _ in range(max(n, 0)):
            k, mn, mx = r.i16(), r.i16(), r.i16()
            r.skip_tags()
            keys[k] = (mn, mx)
    else:
        n = r.i32()
        for _ in range(max(n, 0)):
            k, mn, mx = r.i16(), r.i16(), r.i16()
            keys[k] = (mn, mx)
    throttle = r.i32() if version >= 1 else 0
    if version >= 3:
        r.skip_tags()
    if not r.done():
        raise ValueError("%d trailing bytes in ApiVersions v%d response" % (len(r.d) - r.o, version))
    return corr, err, keys, throttle


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_frame(sock):
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    if size < 0 or size > 64 * 1024 * 1024:
        raise ValueError("bad response size %d" % size)
    return recv_exact(sock, size)


def wait_closed_by_peer(sock, timeout=15.0):
    """True if the peer closes the connection (EOF or reset) within timeout.
    Any bytes received meanwhile are returned as the second value."""
    sock.settimeout(0.5)
    got = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, bytes(got)
        if not chunk:
            return True, bytes(got)
        got += chunk
    return False, bytes(got)


# ------------------------------------------------------------ client helpers

def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def admin(bootstrap, **extra):
    conf = {"bootstrap.servers": bootstrap}
    conf.update(extra)
    return AdminClient(conf)


def create_topic(bootstrap, name, partitions=1, config=None, timeout=30):
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                   config=config or {})], operation_timeout=timeout)
    fs[name].result(timeout=timeout)
    wait_topic(bootstrap, name, partitions, timeout)
    return name


def wait_topic(bootstrap, name, partitions, timeout=30):
    """Bounded wait until metadata shows the topic with all its partitions."""
    a = admin(bootstrap)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            return t
        last = t
        time.sleep(0.1)
    raise AssertionError("topic %s with %d partitions not in metadata (last: %r)" % (name, partitions, last))


class DeliveryLog:
    """Collects delivery reports: ok -> list of (topic, partition, offset,
    key, value, headers, timestamp); failed -> list of (value, KafkaError)."""

    def __init__(self):
        self.ok = []
        self.failed = []

    def __call__(self, err, msg):
        if err is not None:
            self.failed.append((msg.value(), err))
        else:
            self.ok.append((msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                            msg.headers(), msg.timestamp()))


def producer(bootstrap, **extra):
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
            "message.timeout.ms": 30000}
    conf.update(extra)
    return Producer(conf)


def produce_all(p, topic, records, timeout=60):
    """records: iterable of dicts with value and optional key, partition,
    headers, timestamp. Returns a DeliveryLog after every report arrived."""
    log = DeliveryLog()
    n = 0
    for r in records:
        kw = {}
        for k in ("key", "partition", "headers", "timestamp"):
            if r.get(k) is not None:
                kw[k] = r[k]
        while True:
            try:
                p.produce(topic, r["value"], on_delivery=log, **kw)
                break
            except BufferError:
                p.poll(0.1)
        n += 1
        p.poll(0)
    remaining = p.flush(timeout)
    assert remaining == 0, "%d messages still undelivered after %ss" % (remaining, timeout)
    assert len(log.ok) + len(log.failed) == n
    return log


def consumer(bootstrap, **extra):
    # confluent-kafka-python insists on a group.id; the broker has no group
    # coordinator yet, so the tests only use assign() and never commit.
    conf = {"bootstrap.servers": bootstrap, "group.id": unique("itest"),
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "enable.partition.eof": True, "auto.offset.reset": "error",
            "fetch.wait.max.ms": 100}
    conf.update(extra)
    return Consumer(conf)


def high_watermarks(bootstrap, topic, partitions, timeout=10):
    c = consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                for p in range(partitions)}
    finally:
        c.close()


def read_partitions(bootstrap, topic, starts, timeout=60, **extra):
    """starts: {partition: start offset (or OFFSET_BEGINNING)}. Reads every
    partition up to its high watermark (partition EOF). Returns {partition:
    [Message, ...]} in the order received. Fails on any consume error."""
    c = consumer(bootstrap, **extra)
    out = {p: [] for p in starts}
    try:
        c.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
        pending = set(starts)
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, \
                "timed out reading %s; still waiting for partitions %s (got %s)" % (
                    topic, sorted(pending), {p: len(v) for p, v in out.items()})
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
                    continue
                raise KafkaException(m.error())
            out[m.partition()].append(m)
        return out
    finally:
        c.close()


def read_all(bootstrap, topic, partitions, timeout=60, **extra):
    return read_partitions(bootstrap, topic, {p: 0 for p in range(partitions)}, timeout, **extra)


# ------------------------------------------------------------ crash/stop load

class LoadResult:
    def __init__(self):
        self.confirmed = {}   # (partition, offset) -> value
        self.failed = []      # values whose delivery failed (may or may not be stored)
        self.attempted = {}   # partition -> set of values sent
        self.order = {}       # value -> (partition, sequence number)


def produce_until_interrupted(bootstrap, topic, partitions, interrupt, rnd, tag,
                              first_ack_timeout=30, **extra):
    """Produce to every partition of topic with acks=all until interrupt() has
    been called and the producer gave up on everything outstanding.

    interrupt is called once, from a timer thread, a random 0..0.8 s after the
    first delivery confirmation (so each run has confirmed data and unconfirmed
    data in flight). Returns a LoadResult."""
    import threading

    res = LoadResult()
    conf = {"acks": "all", "linger.ms": rnd.choice([0, 1, 5]), "message.timeout.ms": 3000,
            "enable.idempotence": False, "max.in.flight.requests.per.connection": 1,
            "queue.buffering.max.messages": 20000, "reconnect.backoff.max.ms": 200}
    conf.update(extra)
    p = producer(bootstrap, **conf)
    first_ack = threading.Event()
    fired = threading.Event()

    def on_delivery(err, msg):
        if err is None:
            res.confirmed[(msg.partition(), msg.offset())] = msg.value()
            first_ack.set()
        else:
            res.failed.append(msg.value())

    timer = None
    seq = 0
    start = time.monotonic()
    try:
        while not fired.is_set():
            if timer is None:
                if first_ack.is_set():
                    def fire():
                        try:
                            interrupt()
                        finally:
                            fired.set()
                    timer = threading.Timer(rnd.uniform(0.0, 0.8), fire)
                    timer.start()
                else:
                    assert time.monotonic() - start < first_ack_timeout, "no delivery confirmed"
            part = seq % partitions
            value = b"%s-p%d-s%08d-" % (tag.encode(), part, seq) + b"x" * rnd.randint(0, 200)
            try:
                p.produce(topic, value, partition=part, on_delivery=on_delivery)
                res.attempted.setdefault(part, set()).add(value)
                res.order[value] = (part, seq)
                seq += 1
            except BufferError:
                p.poll(0.05)
            p.poll(0)
        # give up on whatever is still outstanding (message.timeout.ms bounds it)
        remaining = p.flush(60)
        assert remaining == 0, "%d messages neither delivered nor failed" % remaining
    finally:
        if timer is not None:
            timer.join(30)
    return res


def verify_load(bootstrap, topic, partitions, res):
    """The invariant after a crash or stop: every acknowledged record is
    readable at its acknowledged offset, each partition's offsets are
    0..n-1 exactly once and in order, nothing unknown was stored, and the
    acknowledged records of a partition are in send order."""
    got = read_all(bootstrap, topic, partitions, timeout=120)
    for q in range(partitions):
        msgs = got[q]
        offs = [m.offset() for m in msgs]
        assert offs == list(range(len(msgs))), \
            "%s[%d]: offsets not 0..%d exactly once in order (first bad at %s)" % (
                topic, q, len(msgs) - 1,
                next((i for i, o in enumerate(offs) if o != i), None))
        attempted = res.attempted.get(q, set())
        for m in msgs:
            assert m.value() in attempted, "%s[%d]@%d holds a value never sent there: %r" % (
                topic, q, m.offset(), m.value()[:60])
    missing = []
    wrong = []
    for (q, off), value in sorted(res.confirmed.items()):
        if off >= len(got[q]):
            missing.append((q, off))
        elif got[q][off].value() != value:
            wrong.append((q, off, value[:40], got[q][off].value()[:40]))
    assert not missing, "%d acknowledged records missing, e.g. %s (partition lengths %s)" % (
        len(missing), missing[:5], {q: len(v) for q, v in got.items()})
    assert not wrong, "%d acknowledged offsets hold other data, e.g. %s" % (len(wrong), wrong[:3])
    for q in range(partitions):
        acked = sorted((off, res.order[v][1]) for (pp, off), v in res.confirmed.items() if pp == q)
        seqs = [s for _, s in acked]
        assert seqs == sorted(seqs), "%s[%d]: acknowledged records out of send order" % (topic, q)
    return got

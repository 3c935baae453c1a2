"""Kafka's request-level checks of the topic administration APIs, against the
real broker, with requests encoded from shared/kafka-protocol/messages (a
small codec below, driven by the JSON message definitions, so a test can
send what no client here sends: duplicates, null values, APPEND/SUBTRACT):

- IncrementalAlterConfigs APPEND (2) / SUBTRACT (3) on the LIST config
  cleanup.policy: from the default list, no duplicate on a second APPEND,
  SUBTRACT down to the empty list (valid, as in Kafka), validate_only,
  a non-LIST key or a resulting invalid list -> INVALID_CONFIG (40).
- The same topic twice in CreateTopics, CreatePartitions or DeleteTopics,
  the same resource twice in AlterConfigs / IncrementalAlterConfigs:
  INVALID_REQUEST (42) for every entry with that name and nothing done for
  it, while the other entries of the request are applied.
- Topic names that collide on '.' vs '_' -> INVALID_TOPIC_EXCEPTION (17);
  null config values: CreateTopics -> INVALID_CONFIG, AlterConfigs and
  IncrementalAlterConfigs SET/APPEND -> INVALID_REQUEST (DELETE may be null).
- CreateTopics v5+ returns the created topic's configs (DescribeConfigs'
  values and sources), also with validate_only; empty on error.
"""
import json
import os
import re
import socket
import struct

from helpers import frame, recv_frame, unique

SPEC_DIR = os.path.join(os.environ.get("RMQ_SHARED_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared"), "kafka-protocol", "messages")

NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION = 0, 3, 17
TOPIC_ALREADY_EXISTS, INVALID_CONFIG, INVALID_REQUEST = 36, 40, 42
TOPIC = 2
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
SOURCE_DYNAMIC_TOPIC, SOURCE_DEFAULT = 1, 5

# ---- a minimal codec driven by the JSON message definitions ----

_specs = {}


def _spec(name):
    if name not in _specs:
        with open(os.path.join(SPEC_DIR, name + ".json")) as f:
            txt = "\n".join(l for l in f.read().splitlines() if not l.strip().startswith("//"))
        _specs[name] = json.loads(txt)
    return _specs[name]


def _in(spec, v):
    if not spec or spec == "none":
        return False
    if spec.endswith("+"):
        return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _uvar(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


_INTS = {"int8": ">b", "int16": ">h", "int32": ">i", "int64": ">q", "uint16": ">H", "float64": ">d"}


def _default(f):
    t = f["type"]
    if t.startswith("[]"):
        return []
    if t == "bool":
        return str(f.get("default", "false")).lower() == "true"
    if t in _INTS:
        d = f.get("default", 0)
        return int(d, 0) if isinstance(d, str) else d
    if t == "uuid":
        return b"\0" * 16
    return ""


def _enc_value(t, f, val, v, flex):
    nullable = _in(f.get("nullableVersions"), v)
    if t.startswith("[]"):
        if val is None:
            assert nullable, f["name"]
            return b"\x00" if flex else struct.pack(">i", -1)
        out = _uvar(len(val) + 1) if flex else struct.pack(">i", len(val))
        et = t[2:]
        for x in val:
            out += _enc_struct(f["fields"], x, v, flex) if "fields" in f else _enc_value(et, {}, x, v, flex)
        return out
    if t in _INTS:
        return struct.pack(_INTS[t], val)
    if t == "bool":
        return b"\x01" if val else b"\x00"
    if t == "uuid":
        return val
    if t == "string":
        if val is None:
            assert nullable, f["name"]
            return b"\x00" if flex else struct.pack(">h", -1)
        b = val.encode()
        return (_uvar(len(b) + 1) if flex else struct.pack(">h", len(b))) + b
    raise AssertionError("type %s not supported" % t)


def _enc_struct(fields, obj, v, flex):
    out = b""
    for f in fields:
        if not _in(f["versions"], v) or "tag" in f:
            continue
        out += _enc_value(f["type"], f, obj.get(_snake(f["name"]), _default(f)), v, flex)
    return out + (b"\x00" if flex else b"")


class _Reader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def take(self, n):
        assert self.o + n <= len(self.d), "short response"
        b = self.d[self.o:self.o + n]
        self.o += n
        return b

    def uvar(self):
        n = shift = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def skip_tags(self):
        for _ in range(self.uvar()):
            self.uvar()
            self.take(self.uvar())


def _dec_value(t, f, r, v, flex):
    if t.startswith("[]"):
        n = r.uvar() - 1 if flex else struct.unpack(">i", r.take(4))[0]
        if n < 0:
            return None
        et = t[2:]
        return [_dec_struct(f["fields"], r, v, flex) if "fields" in f else _dec_value(et, {}, r, v, flex)
                for _ in range(n)]
    if t in _INTS:
        fmt = _INTS[t]
        return struct.unpack(fmt, r.take(struct.calcsize(fmt)))[0]
    if t == "bool":
        return r.take(1) != b"\x00"
    if t == "uuid":
        return r.take(16)
    if t == "string":
        n = r.uvar() - 1 if flex else struct.unpack(">h", r.take(2))[0]
        return None if n < 0 else r.take(n).decode()
    raise AssertionError("type %s not supported" % t)


def _dec_struct(fields, r, v, flex):
    out = {}
    for f in fields:
        if not _in(f["versions"], v) or "tag" in f:
            continue
        out[_snake(f["name"])] = _dec_value(f["type"], f, r, v, flex)
    if flex:
        r.skip_tags()
    return out


class Conn:
    def __init__(self, bootstrap, timeout=30):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0

    def call(self, api, version, body):
        """api: the message name without Request/Response; body: snake_case dict."""
        rq, rs = _spec(api + "Request"), _spec(api + "Response")
        flex = _in(rq["flexibleVersions"], version)
        self.corr += 1
        cid = b"itest-admin-validation"
        hdr = struct.pack(">hhih", rq["apiKey"], version, self.corr, len(cid)) + cid + (b"\x00" if flex else b"")
        self.s.sendall(frame(hdr + _enc_struct(rq["fields"], body, version, flex)))
        r = _Reader(recv_frame(self.s))
        assert struct.unpack(">i", r.take(4))[0] == self.corr
        if flex:
            r.skip_tags()
        out = _dec_struct(rs["fields"], r, version, _in(rs["flexibleVersions"], version))
        assert r.o == len(r.d), "trailing bytes in the %s v%d response" % (api, version)
        return out

    def close(self):
        self.s.close()


# ---- request helpers ----

def topic_spec(name, partitions=1, configs=None):
    return {"name": name, "num_partitions": partitions, "replication_factor": 1, "assignments": [],
            "configs": [{"name": k, "value": val} for k, val in (configs or {}).items()]}


def create(c, topics, version=7, validate_only=False):
    r = c.call("CreateTopics", version, {"topics": topics, "timeout_ms": 10000, "validate_only": validate_only})
    return r["topics"]


def describe(c, topic, keys=None):
    """-> {key: (value, config_source)}, or the error code."""
    r = c.call("DescribeConfigs", 4, {"resources": [{"resource_type": TOPIC, "resource_name": topic,
                                                       "configuration_keys": keys}]})
    res = r["results"][0]
    if res["error_code"]:
        return res["error_code"]
    return {e["name"]: (e["value"], e["config_source"]) for e in res["configs"]}


def cfg(c, topic, key):
    return describe(c, topic, [key])[key]


def partitions(c, topic):
    """Partition count of topic, None if it does not exist."""
    r = c.call("Metadata", 12, {"topics": [{"name": topic, "topic_id": b"\0" * 16}],
                                "allow_auto_topic_creation": False})
    t = r["topics"][0]
    return None if t["error_code"] else len(t["partitions"])


def iac(c, resources, version=1, validate_only=False):
    """resources: [(topic, [(key, op, value)])] -> [(error code, message)] in request order."""
    body = {"resources": [{"resource_type": TOPIC, "resource_name": t,
                           "configs": [{"name": k, "config_operation": op, "value": val} for k, op, val in cs]}
                          for t, cs in resources], "validate_only": validate_only}
    return [(x["error_code"], x["error_message"])
            for x in c.call("IncrementalAlterConfigs", version, body)["responses"]]


def alter(c, resources, version=2):
    """legacy AlterConfigs; resources: [(topic, {key: value})]"""
    body = {"resources": [{"resource_type": TOPIC, "resource_name": t,
                           "configs": [{"name": k, "value": val} for k, val in cs.items()]}
                          for t, cs in resources], "validate_only": False}
    return [(x["error_code"], x["error_message"]) for x in c.call("AlterConfigs", version, body)["responses"]]


def new_topic(c, prefix, partitions_=1, configs=None):
    name = unique(prefix)
    got = create(c, [topic_spec(name, partitions_, configs)])
    assert got[0]["error_code"] == NONE, got
    return name


# ---- IncrementalAlterConfigs APPEND / SUBTRACT ----

def test_incremental_append_subtract(broker):
    c = Conn(broker.bootstrap)
    try:
        for version in (0, 1):
            t = new_topic(c, "lst")
            assert cfg(c, t, "cleanup.policy") == ("delete", SOURCE_DEFAULT)
            # APPEND to the default list; again: no duplicate
            for _ in range(2):
                assert iac(c, [(t, [("cleanup.policy", APPEND, "compact")])], version) == [(NONE, None)]
                assert cfg(c, t, "cleanup.policy") == ("delete,compact", SOURCE_DYNAMIC_TOPIC)
            # SUBTRACT, then SUBTRACT down to the empty list (valid in Kafka)
            assert iac(c, [(t, [("cleanup.policy", SUBTRACT, "delete")])], version) == [(NONE, None)]
            assert cfg(c, t, "cleanup.policy") == ("compact", SOURCE_DYNAMIC_TOPIC)
            assert iac(c, [(t, [("cleanup.policy", SUBTRACT, "compact")])], version) == [(NONE, None)]
            assert cfg(c, t, "cleanup.policy") == ("", SOURCE_DYNAMIC_TOPIC)
            assert iac(c, [(t, [("cleanup.policy", APPEND, "delete,compact")])], version) == [(NONE, None)]
            assert cfg(c, t, "cleanup.policy") == ("delete,compact", SOURCE_DYNAMIC_TOPIC)
            assert iac(c, [(t, [("cleanup.policy", DELETE, None)])], version) == [(NONE, None)]
            assert cfg(c, t, "cleanup.policy") == ("delete", SOURCE_DEFAULT)

        t = new_topic(c, "lst")
        # SUBTRACT from the default list
        assert iac(c, [(t, [("cleanup.policy", SUBTRACT, "delete")])]) == [(NONE, None)]
        assert cfg(c, t, "cleanup.policy") == ("", SOURCE_DYNAMIC_TOPIC)
        assert iac(c, [(t, [("cleanup.policy", DELETE, None)])]) == [(NONE, None)]
        # validate_only: accepted, nothing changes
        assert iac(c, [(t, [("cleanup.policy", APPEND, "compact")])], validate_only=True) == [(NONE, None)]
        assert cfg(c, t, "cleanup.policy") == ("delete", SOURCE_DEFAULT)
        # not a LIST config: INVALID_CONFIG, nothing changes (also the other op of the resource)
        (err, msg), = iac(c, [(t, [("retention.ms", APPEND, "5"), ("cleanup.policy", SET, "compact")])])
        assert err == INVALID_CONFIG and "retention.ms" in msg and "LIST" in msg, (err, msg)
        (err, msg), = iac(c, [(t, [("compression.type", SUBTRACT, "producer")])])
        assert err == INVALID_CONFIG, (err, msg)
        (err, msg), = iac(c, [(t, [("no.such.key", APPEND, "x")])])
        assert err == INVALID_CONFIG, (err, msg)
        # the resulting list is validated like a SET
        (err, msg), = iac(c, [(t, [("cleanup.policy", APPEND, "shred")])])
        assert err == INVALID_CONFIG and "cleanup.policy" in msg, (err, msg)
        assert describe(c, t, ["retention.ms", "cleanup.policy", "compression.type"]) == {
            "retention.ms": ("604800000", SOURCE_DEFAULT), "cleanup.policy": ("delete", SOURCE_DEFAULT),
            "compression.type": ("producer", SOURCE_DEFAULT)}
        # an unknown topic, an unknown operation, a null value
        assert iac(c, [("no-such-topic", [("cleanup.policy", APPEND, "compact")])])[0][0] == UNKNOWN_TOPIC_OR_PARTITION
        assert iac(c, [(t, [("cleanup.policy", 9, "compact")])])[0][0] == INVALID_REQUEST
        (err, msg), = iac(c, [(t, [("cleanup.policy", APPEND, None)])])
        assert err == INVALID_REQUEST and msg == "Null value not supported for : cleanup.policy", (err, msg)
        assert cfg(c, t, "cleanup.policy") == ("delete", SOURCE_DEFAULT)
        # an empty list survives a restart (metadata log replay and snapshot restore accept it)
        assert iac(c, [(t, [("cleanup.policy", SUBTRACT, "delete")])]) == [(NONE, None)]
    finally:
        c.close()
    broker.restart()
    c = Conn(broker.bootstrap)
    try:
        assert cfg(c, t, "cleanup.policy") == ("", SOURCE_DYNAMIC_TOPIC)
    finally:
        c.close()


# ---- a name twice in one request ----

def test_duplicate_topic_in_create_topics(broker):
    c = Conn(broker.bootstrap)
    try:
        a, b = unique("dupa"), unique("dupb")
        # every entry of the repeated name fails, nothing created; the other is created
        got = create(c, [topic_spec(a, 1), topic_spec(a, 3), topic_spec(b, 2)])
        assert [x["name"] for x in got] == [a, a, b]
        for x in got[:2]:
            assert x["error_code"] == INVALID_REQUEST, got
            assert "multiple entries" in x["error_message"] and a in x["error_message"], got
        assert got[2]["error_code"] == NONE, got
        assert partitions(c, a) is None
        assert partitions(c, b) == 2
        # validate_only too
        got = create(c, [topic_spec(a, 1), topic_spec(a, 1)], validate_only=True)
        assert [x["error_code"] for x in got] == [INVALID_REQUEST, INVALID_REQUEST], got
    finally:
        c.close()


def test_duplicate_topic_in_create_partitions(broker):
    c = Conn(broker.bootstrap)
    try:
        b = new_topic(c, "dupb", 2)
        # b twice -> both fail, b unchanged; the other topic grows
        cc = new_topic(c, "dupc")
        for version in (0, 3):
            r = c.call("CreatePartitions", version, {"topics": [
                {"name": b, "count": 4, "assignments": None}, {"name": b, "count": 6, "assignments": None},
                {"name": cc, "count": 2 + version, "assignments": None}], "timeout_ms": 10000})
            got = [(x["name"], x["error_code"], x["error_message"]) for x in r["results"]]
            assert got == [(b, INVALID_REQUEST, "Duplicate topic in request."),
                           (b, INVALID_REQUEST, "Duplicate topic in request."), (cc, NONE, None)], got
            assert partitions(c, b) == 2
            assert partitions(c, cc) == 2 + version
    finally:
        c.close()


def test_duplicate_topic_in_delete_topics(broker):
    c = Conn(broker.bootstrap)
    try:
        b, cc = new_topic(c, "dupb", 2), new_topic(c, "dupc")
        # DeleteTopics by name (v5 and v6) and by id (v6): nothing deleted for the repeated one
        r = c.call("DeleteTopics", 5, {"topic_names": [b, b], "timeout_ms": 10000})
        assert [(x["name"], x["error_code"]) for x in r["responses"]] == [(b, INVALID_REQUEST)] * 2, r
        r = c.call("DeleteTopics", 6, {"topics": [{"name": b}, {"name": b}], "timeout_ms": 10000})
        assert [(x["name"], x["error_code"]) for x in r["responses"]] == [(b, INVALID_REQUEST)] * 2, r
        assert partitions(c, b) == 2
        tid = create(c, [topic_spec(unique("dupd"))], validate_only=False)[0]["topic_id"]
        r = c.call("DeleteTopics", 6, {"topics": [{"name": None, "topic_id": tid}] * 2 + [{"name": cc}],
                                       "timeout_ms": 10000})
        assert [x["error_code"] for x in r["responses"]] == [INVALID_REQUEST, INVALID_REQUEST, NONE], r
        assert partitions(c, cc) is None
        # by id alone: the answer names the topic the id resolved to (Kafka does)
        dname = unique("dupe")
        tid = create(c, [topic_spec(dname)], validate_only=False)[0]["topic_id"]
        r = c.call("DeleteTopics", 6, {"topics": [{"name": None, "topic_id": tid}], "timeout_ms": 10000})
        assert [(x["name"], x["error_code"]) for x in r["responses"]] == [(dname, NONE)], r
        assert partitions(c, dname) is None
    finally:
        c.close()


def test_duplicate_resource_in_alter_configs(broker):
    c = Conn(broker.bootstrap)
    try:
        # the same resource twice -> both fail, unchanged; another resource of the request is applied
        b, e = new_topic(c, "dupb"), new_topic(c, "dupe")
        got = alter(c, [(b, {"retention.ms": "1000"}), (e, {"retention.ms": "2000"}), (b, {"retention.ms": "3000"})])
        assert got == [(INVALID_REQUEST, "Each resource must appear at most once."), (NONE, None),
                       (INVALID_REQUEST, "Each resource must appear at most once.")], got
        assert cfg(c, b, "retention.ms") == ("604800000", SOURCE_DEFAULT)
        assert cfg(c, e, "retention.ms") == ("2000", SOURCE_DYNAMIC_TOPIC)
        got = iac(c, [(b, [("retention.ms", SET, "1000")]), (b, [("segment.ms", SET, "5000")]),
                      (e, [("retention.ms", SET, "4000")])])
        assert got == [(INVALID_REQUEST, "Each resource must appear at most once.")] * 2 + [(NONE, None)], got
        assert describe(c, b, ["retention.ms", "segment.ms"]) == {
            "retention.ms": ("604800000", SOURCE_DEFAULT), "segment.ms": ("604800000", SOURCE_DEFAULT)}
        assert cfg(c, e, "retention.ms") == ("4000", SOURCE_DYNAMIC_TOPIC)
        # a key twice in one resource
        got = iac(c, [(e, [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)])])
        assert got == [(INVALID_REQUEST, "Error due to duplicate config keys")], got
        assert alter(c, [(e, {"retention.ms": "5"})])[0][0] == NONE  # the legacy API still works
        assert cfg(c, e, "retention.ms") == ("5", SOURCE_DYNAMIC_TOPIC)
    finally:
        c.close()


def test_alter_configs_unknown_topic(broker):
    """AlterConfigs for an unknown topic: UNKNOWN_TOPIC_OR_PARTITION with
    Kafka's message (Sarama 1.22 reads only the message: a null one was
    success to it); the other resource of the request is applied."""
    c = Conn(broker.bootstrap)
    try:
        e = new_topic(c, "unk")
        for version in (0, 1, 2):
            got = alter(c, [("no-such-topic", {"retention.ms": "5"}), (e, {"retention.ms": str(6 + version)})],
                        version)
            assert got == [(UNKNOWN_TOPIC_OR_PARTITION, "Topic 'no-such-topic' does not exist."), (NONE, None)], got
            assert cfg(c, e, "retention.ms") == (str(6 + version), SOURCE_DYNAMIC_TOPIC)
    finally:
        c.close()


# ---- name collisions, null values ----

def test_name_collision(broker):
    c = Conn(broker.bootstrap)
    try:
        base = unique("col")
        dotted, under = base + ".x", base + "_x"
        assert create(c, [topic_spec(dotted)])[0]["error_code"] == NONE
        for validate_only in (True, False):
            got = create(c, [topic_spec(under)], validate_only=validate_only)[0]
            assert got["error_code"] == INVALID_TOPIC_EXCEPTION, got
            assert got["error_message"] == "Topic '%s' collides with existing topic: %s" % (under, dotted), got
        assert partitions(c, under) is None
        assert create(c, [topic_spec(dotted)])[0]["error_code"] == TOPIC_ALREADY_EXISTS
        assert create(c, [topic_spec(base + "-x")])[0]["error_code"] == NONE
    finally:
        c.close()


def test_null_config_values(broker):
    c = Conn(broker.bootstrap)
    try:
        # CreateTopics with a null config value: INVALID_CONFIG, not created
        n = unique("nul")
        got = create(c, [topic_spec(n, 1, {"retention.ms": None})])[0]
        assert got["error_code"] == INVALID_CONFIG, got
        assert got["error_message"] == "Null value not supported for topic configs: retention.ms", got
        assert partitions(c, n) is None

        # AlterConfigs with a null value: INVALID_REQUEST, the overrides stay
        t = new_topic(c, "nul", 1, {"retention.ms": "1234", "segment.ms": "5678"})
        got = alter(c, [(t, {"retention.ms": None, "segment.ms": "1"})])
        assert got == [(INVALID_REQUEST, "Null value not supported for : retention.ms")], got
        assert describe(c, t, ["retention.ms", "segment.ms"]) == {
            "retention.ms": ("1234", SOURCE_DYNAMIC_TOPIC), "segment.ms": ("5678", SOURCE_DYNAMIC_TOPIC)}
        # IncrementalAlterConfigs: SET null -> INVALID_REQUEST; DELETE with a null value is fine
        got = iac(c, [(t, [("retention.ms", SET, None), ("segment.ms", SET, None)])])
        assert got == [(INVALID_REQUEST, "Null value not supported for : retention.ms, segment.ms")], got
        assert cfg(c, t, "retention.ms") == ("1234", SOURCE_DYNAMIC_TOPIC)
        assert iac(c, [(t, [("retention.ms", DELETE, None)])]) == [(NONE, None)]
        assert cfg(c, t, "retention.ms") == ("604800000", SOURCE_DEFAULT)
    finally:
        c.close()


# ---- CreateTopics v5+ configs ----

def test_create_topics_returns_configs(broker):
    c = Conn(broker.bootstrap)
    try:
        for version in (5, 7):
            for validate_only in (True, False):
                t = unique("cfg")
                got = create(c, [topic_spec(t, 2, {"retention.ms": "12345", "cleanup.policy": "compact"})],
                             version=version, validate_only=validate_only)[0]
                assert got["error_code"] == NONE, got
                assert (got["num_partitions"], got["replication_factor"]) == (2, 1)
                configs = got["configs"]
                names = [x["name"] for x in configs]
                assert names == sorted(names) and len(names) >= 20, names
                by_name = {x["name"]: x for x in configs}
                assert not any(x["read_only"] or x["is_sensitive"] for x in configs)
                assert (by_name["retention.ms"]["value"], by_name["retention.ms"]["config_source"]) == \
                    ("12345", SOURCE_DYNAMIC_TOPIC)
                assert (by_name["cleanup.policy"]["value"], by_name["cleanup.policy"]["config_source"]) == \
                    ("compact", SOURCE_DYNAMIC_TOPIC)
                if validate_only:
                    assert partitions(c, t) is None
                    continue
                # exactly what DescribeConfigs answers for the new topic
                assert {x["name"]: (x["value"], x["config_source"]) for x in configs} == describe(c, t)
        # on error: an empty list
        got = create(c, [topic_spec("bad name!")], version=5)[0]
        assert got["error_code"] == INVALID_TOPIC_EXCEPTION and got["configs"] == [], got
    finally:
        c.close()

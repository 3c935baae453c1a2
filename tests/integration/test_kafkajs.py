"""KafkaJS 2.2.4 (a pure-JavaScript client that encodes the protocol itself,
with its own choice of API versions: Produce v7, Fetch v11, ListOffsets v3,
Metadata v6, JoinGroup v5, OffsetCommit v5, CreateTopics v3, DescribeConfigs
v2 ...) against a real broker. The node scripts in js/ do the client calls and
print JSON; every check on the data is here.

- admin: createTopics with configs (and again: false), listTopics,
  fetchTopicMetadata, createPartitions, describeConfigs / alterConfigs,
  fetchTopicOffsets, fetchTopicOffsetsByTimestamp, deleteTopicRecords,
  describeCluster, deleteTopics; group offsets (fetchOffsets, setOffsets,
  resetOffsets, describeGroups, listGroups, deleteGroups)
- producer: acks -1 and 1, keys, headers, timestamps, GZIP, 12 partitions;
  idempotent producer (two sessions, exactly once, in order)
- consumer: seek; a group of two splitting partitions, commits, a restart
  resuming from the committed offsets, a rebalance when one member leaves
- errors with auto_create off: UNKNOWN_TOPIC_OR_PARTITION from producer.send,
  fetchTopicMetadata, describeConfigs and deleteTopics

Skips when node or kafkajs is missing (scripts/test.sh installs it with
tests/tools/kafkajs.sh).
"""
import json
import os
import queue
import shutil
import subprocess
import threading
import time

import pytest

from helpers import read_all, unique

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "js")
TOOL = os.path.join(HERE, "..", "tools", "kafkajs.sh")

BROKER_CONFIG = {"topics": {"auto_create": False}}
TOPIC = 2        # ConfigResourceTypes.TOPIC
BROKER_RES = 4   # ConfigResourceTypes.BROKER


def _node_path():
    if shutil.which("node") is None:
        return None
    try:
        out = subprocess.run(["sh", TOOL, "path"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    path = out.stdout.strip()
    if out.returncode != 0 or not os.path.isfile(os.path.join(path, "kafkajs", "package.json")):
        return None
    return path


@pytest.fixture(scope="module")
def node_env():
    path = _node_path()
    if path is None:
        pytest.skip("node or kafkajs missing (tests/tools/kafkajs.sh install needs npm)")
    env = dict(os.environ)
    env["NODE_PATH"] = path
    env["KAFKAJS_NO_PARTITIONER_WARNING"] = "1"
    return env


def run_ops(env, broker, steps, timeout=180, **kafka):
    """Runs js/ops.js; returns one result dict per step, in order."""
    prog = {"brokers": [broker.bootstrap], "kafka": kafka, "steps": steps}
    p = subprocess.run(["node", os.path.join(JS, "ops.js")], input=json.dumps(prog),
                       capture_output=True, text=True, timeout=timeout, env=env, cwd=JS)
    assert p.returncode == 0, "ops.js exit %d:\n%s" % (p.returncode, p.stderr[-4000:])
    res = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert [r["i"] for r in res] == list(range(len(steps))), \
        "ops.js answered %d of %d steps:\n%s" % (len(res), len(steps), p.stderr[-4000:])
    return res


def ok(r):
    assert "error" not in r, "step %d (%s %s) failed: %s" % (r["i"], r["op"], r.get("method"),
                                                            r["error"])
    return r["ok"]


def admin(method, *args):
    return {"op": "admin", "method": method, "args": list(args)}


def create(topic, partitions, configs=None):
    return admin("createTopics", {"waitForLeaders": True, "topics": [{
        "topic": topic, "numPartitions": partitions,
        "configEntries": [{"name": k, "value": v} for k, v in (configs or {}).items()]}]})


def configs_of(describe_result):
    (res,) = describe_result["resources"]
    assert res["errorCode"] == 0, res
    return {e["configName"]: e for e in res["configEntries"]}


def offsets_by_partition(lst):
    return {o["partition"]: o for o in lst}


# ---------------------------------------------------------------- admin

def test_admin_topic_lifecycle(module_broker, node_env):
    b = module_broker
    t = unique("kjs-adm")
    r = run_ops(node_env, b, [
        admin("describeCluster"),                                                        # 0
        create(t, 3, {"retention.ms": "3600000", "cleanup.policy": "delete"}),           # 1
        create(t, 3),                                                                    # 2
        admin("listTopics"),                                                             # 3
        admin("fetchTopicMetadata", {"topics": [t]}),                                    # 4
        admin("createPartitions", {"topicPartitions": [{"topic": t, "count": 5}]}),      # 5
        admin("fetchTopicMetadata", {"topics": [t]}),                                    # 6
        admin("describeConfigs", {"includeSynonyms": False, "resources": [
            {"type": TOPIC, "name": t, "configNames": ["retention.ms", "max.message.bytes"]}]}),
        admin("alterConfigs", {"validateOnly": False, "resources": [
            {"type": TOPIC, "name": t, "configEntries": [{"name": "retention.ms", "value": "7200000"}]}]}),
        admin("describeConfigs", {"includeSynonyms": False, "resources": [
            {"type": TOPIC, "name": t}]}),                                               # 9
        admin("describeConfigs", {"includeSynonyms": False, "resources": [
            {"type": BROKER_RES, "name": "1"}]}),                                        # 10
        admin("createPartitions", {"topicPartitions": [{"topic": t, "count": 2}]}),      # 11
        admin("describeConfigs", {"includeSynonyms": True, "resources": [
            {"type": TOPIC, "name": t, "configNames": ["retention.ms", "cleanup.policy"]}]}),
        admin("describeConfigs", {"includeSynonyms": True, "resources": [
            {"type": BROKER_RES, "name": "1", "configNames": ["broker.id"]}]}),         # 13
        admin("deleteTopics", {"topics": [t]}),                                          # 14
        admin("listTopics"),                                                             # 15
    ])
    cluster = ok(r[0])
    assert cluster["brokers"] == [{"nodeId": 1, "host": "127.0.0.1", "port": b.port}]
    assert cluster["controller"] == 1 and cluster["clusterId"]
    assert ok(r[1]) is True
    assert ok(r[2]) is False  # KafkaJS answers false for TOPIC_ALREADY_EXISTS
    assert t in ok(r[3])
    (md,) = ok(r[4])["topics"]
    assert md["name"] == t
    assert [(p["partitionId"], p["leader"], p["replicas"], p["isr"], p["partitionErrorCode"])
            for p in md["partitions"]] == [(i, 1, [1], [1], 0) for i in range(3)]
    ok(r[5])
    (md,) = ok(r[6])["topics"]
    assert sorted(p["partitionId"] for p in md["partitions"]) == [0, 1, 2, 3, 4]
    c = configs_of(ok(r[7]))
    assert set(c) == {"retention.ms", "max.message.bytes"}
    assert (c["retention.ms"]["configValue"], c["retention.ms"]["isDefault"]) == ("3600000", False)
    assert c["max.message.bytes"]["isDefault"] is True
    (alt,) = ok(r[8])["resources"]
    assert (alt["errorCode"], alt["resourceName"]) == (0, t)
    c = configs_of(ok(r[9]))
    assert c["retention.ms"]["configValue"] == "7200000"
    # AlterConfigs replaces the whole set: cleanup.policy is back to its default
    assert (c["cleanup.policy"]["configValue"], c["cleanup.policy"]["isDefault"]) == ("delete", True)
    bc = configs_of(ok(r[10]))
    assert bc["broker.id"]["configValue"] == "1"
    assert bc["auto.create.topics.enable"]["configValue"] == "false"
    assert "INVALID_PARTITIONS" in r[11]["types"], r[11]
    # includeSynonyms: Kafka lists where a value can come from, most specific
    # first: the topic's own value, then the broker-level default
    c = configs_of(ok(r[12]))
    syn = {k: [(x["configName"], x["configValue"], x["configSource"]) for x in v["configSynonyms"]]
           for k, v in c.items()}
    assert syn == {"retention.ms": [("retention.ms", "7200000", 1), ("log.retention.ms", "604800000", 5)],
                   "cleanup.policy": [("log.cleanup.policy", "delete", 5)]}
    assert [(x["configName"], x["configValue"], x["configSource"])
            for x in configs_of(ok(r[13]))["broker.id"]["configSynonyms"]] == [("broker.id", "1", 4)]
    ok(r[14])
    assert t not in ok(r[15])


def test_admin_offsets_and_delete_records(module_broker, node_env):
    b = module_broker
    t = unique("kjs-off")
    base = 1_700_000_000_000
    msgs = [{"key": "k%d" % i, "value": "v%d" % i, "partition": i % 2,
             "timestamp": str(base + i * 1000)} for i in range(10)]
    r = run_ops(node_env, b, [
        create(t, 3),
        {"op": "producer", "name": "p"},
        {"op": "send", "name": "p", "record": {"topic": t, "acks": -1, "messages": msgs}},
        admin("fetchTopicOffsets", t),                                                  # 3
        admin("fetchTopicOffsetsByTimestamp", t, base + 4000),                          # 4
        admin("fetchTopicOffsetsByTimestamp", t, base + 4500),                          # 5
        admin("fetchTopicOffsetsByTimestamp", t, base - 1),                             # 6
        admin("fetchTopicOffsetsByTimestamp", t, base + 100_000),                       # 7
        admin("deleteTopicRecords", {"topic": t, "partitions": [{"partition": 0, "offset": "3"}]}),
        admin("fetchTopicOffsets", t),                                                  # 9
        {"op": "read", "topic": t, "count": 7},                                         # 10
        admin("deleteTopicRecords", {"topic": t, "partitions": [{"partition": 1, "offset": "-1"}]}),
        admin("fetchTopicOffsets", t),                                                  # 12
        admin("deleteTopicRecords", {"topic": t, "partitions": [{"partition": 0, "offset": "99"}]}),
    ])
    sent = ok(r[2])
    assert sorted((m["partition"], m["baseOffset"], m["errorCode"]) for m in sent) == \
        [(0, "0", 0), (1, "0", 0)]
    o = offsets_by_partition(ok(r[3]))
    assert {p: (v["low"], v["high"]) for p, v in o.items()} == \
        {0: ("0", "5"), 1: ("0", "5"), 2: ("0", "0")}
    # partition 0 holds base+0,2,4,6,8 s; partition 1 base+1,3,5,7,9 s; 2 is empty
    # (no record at or after the time: KafkaJS substitutes the high watermark)
    assert offsets_by_partition(ok(r[4])) == {0: {"partition": 0, "offset": "2"},
                                              1: {"partition": 1, "offset": "2"},
                                              2: {"partition": 2, "offset": "0"}}
    assert {p: v["offset"] for p, v in offsets_by_partition(ok(r[5])).items()} == \
        {0: "3", 1: "2", 2: "0"}
    assert {p: v["offset"] for p, v in offsets_by_partition(ok(r[6])).items()} == \
        {0: "0", 1: "0", 2: "0"}
    assert {p: v["offset"] for p, v in offsets_by_partition(ok(r[7])).items()} == \
        {0: "5", 1: "5", 2: "0"}
    ok(r[8])
    o = offsets_by_partition(ok(r[9]))
    assert {p: (v["low"], v["high"]) for p, v in o.items()} == \
        {0: ("3", "5"), 1: ("0", "5"), 2: ("0", "0")}
    got = sorted((m["partition"], int(m["offset"]), m["key"], m["value"], m["timestamp"])
                 for m in ok(r[10]))
    want = sorted((i % 2, i // 2, "k%d" % i, "v%d" % i, str(base + i * 1000))
                  for i in range(10) if not (i % 2 == 0 and i // 2 < 3))
    assert got == want
    ok(r[11])  # offset -1: up to the high watermark
    o = offsets_by_partition(ok(r[12]))
    assert (o[1]["low"], o[1]["high"]) == ("5", "5")
    assert "OFFSET_OUT_OF_RANGE" in r[13]["types"], r[13]


def test_unknown_topic_errors(module_broker, node_env):
    b = module_broker
    t = unique("kjs-missing")
    r = run_ops(node_env, b, [
        {"op": "producer", "name": "p", "config": {"allowAutoTopicCreation": True}},
        {"op": "send", "name": "p", "record": {"topic": t, "messages": [{"value": "x"}]}},
        admin("fetchTopicMetadata", {"topics": [t]}),
        admin("describeConfigs", {"includeSynonyms": False, "resources": [{"type": TOPIC, "name": t}]}),
        admin("deleteTopics", {"topics": [t], "timeout": 5000}),
        admin("listTopics"),
    ], retry={"retries": 1, "initialRetryTime": 100})
    for i in (1, 2, 3, 4):
        assert "UNKNOWN_TOPIC_OR_PARTITION" in r[i]["types"], r[i]
        assert "error" in r[i]
    assert t not in ok(r[5])  # asking for auto-creation created nothing


# ---------------------------------------------------------------- produce / consume

@pytest.mark.parametrize("acks,compression", [(-1, None), (1, "gzip"), (-1, "gzip")])
def test_produce_consume_many_partitions(module_broker, node_env, acks, compression):
    b = module_broker
    t = unique("kjs-pc")
    parts = 12
    n = 600
    base = 1_650_000_000_000
    msgs = []
    for i in range(n):
        msgs.append({"key": "key-%d" % (i % 17), "value": "kafkajs-%05d-" % i + "z" * (i % 200),
                     "headers": {"n": str(i), "kind": "even" if i % 2 == 0 else "odd"},
                     "timestamp": str(base + i)})
    steps = [create(t, parts), {"op": "producer", "name": "p"}]
    for chunk in range(0, n, 100):  # six requests, each spread over the partitions by key
        steps.append({"op": "send", "name": "p", "record": {
            "topic": t, "acks": acks, "compression": compression, "messages": msgs[chunk:chunk + 100]}})
    steps.append({"op": "read", "topic": t, "count": n})
    r = run_ops(node_env, b, steps)
    for s in r[2:-1]:
        for m in ok(s):
            assert m["errorCode"] == 0
    got = ok(r[-1])
    assert len(got) == n, "read %d of %d" % (len(got), n)
    by_part = {}
    for m in got:
        by_part.setdefault(m["partition"], []).append(m)
    assert len(by_part) > 1, "every key landed in one partition"
    key_part = {}
    for q, ms in by_part.items():
        assert [int(m["offset"]) for m in ms] == list(range(len(ms))), "partition %d offsets" % q
        idx = [int(m["headers"]["n"]) for m in ms]
        assert idx == sorted(idx), "partition %d out of send order" % q
        for m in ms:
            i = int(m["headers"]["n"])
            assert (m["key"], m["value"], m["headers"], m["timestamp"]) == (
                msgs[i]["key"], msgs[i]["value"], msgs[i]["headers"], msgs[i]["timestamp"])
            assert key_part.setdefault(m["key"], q) == q, "key %s in two partitions" % m["key"]
    assert sorted(int(m["headers"]["n"]) for m in got) == list(range(n))
    # a second client (librdkafka) reads the same bytes
    other = read_all(b.bootstrap, t, parts)
    assert sorted((q, m.offset(), m.key().decode(), m.value().decode()) for q, ms in other.items()
                  for m in ms) == sorted((m["partition"], int(m["offset"]), m["key"], m["value"])
                                         for m in got)


def test_idempotent_producer(module_broker, node_env):
    b = module_broker
    t = unique("kjs-idem")
    steps = [create(t, 3)]
    sent = []
    for session in range(2):
        name = "idem%d" % session
        steps.append({"op": "producer", "name": name,
                      "config": {"idempotent": True, "maxInFlightRequests": 1}})
        for batch in range(4):
            ms = [{"key": "s%d-b%d-%d" % (session, batch, i), "value": "idem-%d-%d-%d" % (session, batch, i),
                   "partition": i % 3} for i in range(30)]
            sent.extend(ms)
            steps.append({"op": "send", "name": name, "record": {
                "topic": t, "acks": -1, "compression": "gzip" if batch % 2 else None, "messages": ms}})
        steps.append({"op": "disconnect", "name": name})
    steps.append({"op": "read", "topic": t, "count": len(sent)})
    r = run_ops(node_env, b, steps)
    for s in r[:-1]:
        ok(s)
    got = ok(r[-1])
    assert len(got) == len(sent)
    for q in range(3):
        want = [m["value"] for m in sent if m["partition"] == q]
        ms = sorted((m for m in got if m["partition"] == q), key=lambda m: int(m["offset"]))
        assert [int(m["offset"]) for m in ms] == list(range(len(want)))
        assert [m["value"] for m in ms] == want, "partition %d: not exactly once in order" % q


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_seek(module_broker, node_env, compression):
    b = module_broker
    t = unique("kjs-seek")
    msgs = [{"value": "s%03d" % i, "partition": i % 2} for i in range(40)]
    r = run_ops(node_env, b, [
        create(t, 2),
        {"op": "producer", "name": "p"},
        # one batch per partition: with gzip, offset 15 is inside a compressed batch
        {"op": "send", "name": "p", "record": {"topic": t, "acks": -1, "compression": compression,
                                               "messages": msgs}},
        # partition 0 from offset 15 (5 left), partition 1 from its end (none)
        {"op": "read", "topic": t, "count": 5, "settleMs": 1000,
         "seek": [{"partition": 0, "offset": 15}, {"partition": 1, "offset": 20}]},
    ])
    got = ok(r[3])
    assert [(m["partition"], int(m["offset"]), m["value"]) for m in got] == \
        [(0, o, "s%03d" % (2 * o)) for o in range(15, 20)]


def test_fetch_limits_smaller_than_a_batch(module_broker, node_env):
    """maxBytesPerPartition / maxBytes far below one 20 KB record batch: the
    broker still returns the first batch whole (KIP-74), so KafkaJS advances."""
    b = module_broker
    t = unique("kjs-small")
    msgs = [{"value": "B%03d-" % i + "x" * 20000, "partition": 0} for i in range(12)]
    steps = [create(t, 1), {"op": "producer", "name": "p"}]
    for i in range(0, 12, 3):
        steps.append({"op": "send", "name": "p", "record": {"topic": t, "acks": -1,
                                                             "messages": msgs[i:i + 3]}})
    steps.append({"op": "read", "topic": t, "count": 12,
                  "consumer": {"maxBytesPerPartition": 1024, "maxBytes": 2048}})
    r = run_ops(node_env, b, steps)
    got = ok(r[-1])
    assert [(int(m["offset"]), m["value"]) for m in got] == [(i, msgs[i]["value"]) for i in range(12)]


# ---------------------------------------------------------------- consumer group

class Member:
    """One js/consumer.js process; its JSON lines land in a queue."""

    def __init__(self, env, broker, group, topic, name):
        self.name = name
        cfg = {"brokers": [broker.bootstrap], "groupId": group, "topic": topic}
        self.err = open(os.path.join(str(broker.workdir), "kafkajs-%s.log" % name), "ab")
        self.proc = subprocess.Popen(["node", os.path.join(JS, "consumer.js"), json.dumps(cfg)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, env=env, cwd=JS, text=True)
        self.q = queue.Queue()
        self.events = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            if line.strip():
                self.q.put(json.loads(line))
        self.q.put({"event": "eof"})

    def wait(self, pred, what, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "%s: no %s within %ss (events: %s)" % (
                self.name, what, timeout, [e["event"] for e in self.events][-20:])
            try:
                e = self.q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.events.append(e)
            assert e["event"] not in ("crash", "eof"), "%s: %s" % (self.name, e)
            if pred(e):
                return e

    def messages(self):
        return [e for e in self.events if e["event"] == "msg"]

    def drain(self):
        while True:
            try:
                e = self.q.get_nowait()
            except queue.Empty:
                return
            self.events.append(e)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            self.wait(lambda e: e["event"] == "stopped", "stop")
            self.proc.wait(timeout=30)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.err.close()


def _consume_until(members, total, what):
    """Waits until the members together saw `total` messages."""
    deadline = time.monotonic() + 90
    while sum(len(m.messages()) for m in members) < total:
        assert time.monotonic() < deadline, "%s: %d of %d messages" % (
            what, sum(len(m.messages()) for m in members), total)
        for m in members:
            try:
                m.wait(lambda e: e["event"] == "msg", "message", timeout=0.3)
            except AssertionError as e:
                if "no message" not in str(e):
                    raise


def test_consumer_group(module_broker, node_env):
    b = module_broker
    t = unique("kjs-grp")
    g = unique("kjs-g")
    parts = 6

    def produce(first, count):
        msgs = [{"key": "k%d" % i, "value": "g%04d" % i, "partition": i % parts}
                for i in range(first, first + count)]
        r = run_ops(node_env, b, [{"op": "producer", "name": "p"},
                                  {"op": "send", "name": "p", "record": {"topic": t, "acks": -1,
                                                                         "messages": msgs}}])
        ok(r[1])

    ok(run_ops(node_env, b, [create(t, parts)])[0])
    produce(0, 60)
    members = []
    try:
        a = Member(node_env, b, g, t, "a")
        members.append(a)
        a.wait(lambda e: e["event"] == "join", "join")
        c = Member(node_env, b, g, t, "c")
        members.append(c)
        # both in one generation: each holds part of the partitions, together all
        jc = c.wait(lambda e: e["event"] == "join", "join")
        ja = a.wait(lambda e: e["event"] == "join" and len(e["assignment"].get(t, [])) < parts,
                    "rebalance to share")
        pa, pc = set(ja["assignment"][t]), set(jc["assignment"][t])
        assert pa and pc and not pa & pc and pa | pc == set(range(parts)), (pa, pc)
        _consume_until(members, 60, "first round")
        produce(60, 60)
        _consume_until(members, 120, "second round")
        for m in members:
            m.drain()
        # every message since the split went to the member owning its partition
        split_msgs = {m.name: [e for e in m.messages() if int(e["value"][1:]) >= 60] for m in members}
        assert {int(e["partition"]) for e in split_msgs["a"]} <= pa
        assert {int(e["partition"]) for e in split_msgs["c"]} <= pc
        seen = sorted(e["value"] for m in members for e in m.messages() if int(e["value"][1:]) >= 60)
        assert seen == ["g%04d" % i for i in range(60, 120)], "second round not exactly once"
        # c leaves the group (LeaveGroup): a takes every partition and c's
        # share is not consumed again (it was committed)
        c.stop()
        ja2 = a.wait(lambda e: e["event"] == "join" and sorted(e["assignment"].get(t, [])) ==
                     list(range(parts)), "rebalance after leave")
        assert ja2["memberId"] == ja["memberId"]
        before = len(a.messages())
        produce(120, 30)
        _consume_until([a], before + 30, "after leave")
        a.drain()
        after = [e["value"] for e in a.messages()[before:]]
        assert sorted(after) == ["g%04d" % i for i in range(120, 150)], after
        a.stop()
        # committed offsets are every partition's end
        r = run_ops(node_env, b, [admin("fetchOffsets", {"groupId": g, "topics": [t]}),
                                  admin("describeGroups", [g])])
        (fo,) = ok(r[0])
        assert {p["partition"]: p["offset"] for p in fo["partitions"]} == \
            {q: str(150 // parts) for q in range(parts)}
        (desc,) = ok(r[1])["groups"]
        assert (desc["groupId"], desc["state"], desc["members"]) == (g, "Empty", [])
        # a restart resumes from the committed offsets: only new records
        produce(150, 12)
        d = Member(node_env, b, g, t, "d")
        members.append(d)
        _consume_until([d], 12, "after restart")
        d.drain()
        assert sorted((int(e["partition"]), int(e["offset"]), e["value"]) for e in d.messages()) == \
            sorted((i % parts, 25 + (i - 150) // parts, "g%04d" % i) for i in range(150, 162))
        d.stop()
    finally:
        for m in members:
            m.kill()


def test_group_offset_admin(module_broker, node_env):
    b = module_broker
    t = unique("kjs-goa")
    g = unique("kjs-goa-g")
    r = run_ops(node_env, b, [
        create(t, 2),
        admin("setOffsets", {"groupId": g, "topic": t, "partitions": [{"partition": 0, "offset": "7"}]}),
        admin("fetchOffsets", {"groupId": g, "topics": [t]}),                            # 2
        admin("listGroups"),                                                             # 3
        admin("resetOffsets", {"groupId": g, "topic": t, "earliest": True}),
        admin("fetchOffsets", {"groupId": g, "topics": [t]}),                            # 5
        admin("describeGroups", [g]),                                                    # 6
        admin("deleteGroups", [g]),                                                      # 7
        admin("listGroups"),                                                             # 8
    ])
    ok(r[1])
    (fo,) = ok(r[2])
    assert {p["partition"]: p["offset"] for p in fo["partitions"]} == {0: "7", 1: "-1"}
    assert {"groupId": g, "protocolType": "consumer"} in ok(r[3])["groups"]
    ok(r[4])
    (fo,) = ok(r[5])
    assert {p["partition"]: p["offset"] for p in fo["partitions"]} == {0: "-2", 1: "-2"}
    (desc,) = ok(r[6])["groups"]
    assert (desc["errorCode"], desc["state"], desc["members"]) == (0, "Empty", [])
    assert ok(r[7]) == [{"groupId": g, "errorCode": 0}]
    assert g not in [x["groupId"] for x in ok(r[8])["groups"]]

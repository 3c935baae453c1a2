"""Brokers on a controller quorum: three rustmq-controller processes and two
rustmq-broker processes on 127.0.0.1 (docs/cluster.md).

Checks: both brokers register and list each other in Metadata with their
advertised addresses; CreateTopics / CreatePartitions / AlterConfigs /
DeleteTopics sent to either broker go through the controller (visible with
`rustmq-controller ctl topics`) and reach the other broker's metadata by
the watch; partitions are spread over the brokers and clients produce to
and consume from the right leader; a broker asked for a partition it does
not lead answers NOT_LEADER_OR_FOLLOWER; kill -9 of a broker gets it fenced
after its session timeout (time measured and printed) and the survivor's
Metadata shows it gone and its partitions leaderless; the broker comes back
with a new epoch and leads them again; the controller leader's kill -9 does
not fence anybody and the watch resumes on another controller; both brokers
upload the segments of the partitions they lead (their own segment-id
ranges) and every record is read back from the objects after both WALs are
wiped.

Metadata is read with raw Metadata v1 requests to one broker at a time, so
each broker's own view is what is checked.
"""
import json
import os
import re
import socket
import struct
import time
import urllib.request

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic

from conftest import free_port
from helpers import admin, consumer, produce_all, producer, recv_frame, unique
from test_controller import CTL_BIN, Controller, eps, topics, wait_leader
from test_delete_records import delete_records

pytestmark = pytest.mark.skipif(not os.access(CTL_BIN, os.X_OK), reason="rustmq-controller not built")

SESSION_MS = 2000
HEARTBEAT_MS = 200
LEADER_NOT_AVAILABLE = 5
NOT_LEADER_OR_FOLLOWER = 6


# ---- raw Kafka requests (non-flexible versions) ----

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _request(port, api_key, version, body, corr=7):
    hdr = struct.pack(">hhi", api_key, version, corr) + _str("itest-cluster")
    payload = hdr + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)
        resp = recv_frame(s)
    assert struct.unpack(">i", resp[:4])[0] == corr
    return resp[4:]


class _R:
    def __init__(self, d):
        self.d, self.o = d, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)
        self.o += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def s(self):
        n = self.take(">h")
        if n < 0:
            return None
        v = self.d[self.o:self.o + n].decode()
        self.o += n
        return v


def metadata(port):
    """Metadata v1 (all topics) from the broker on port:
    {"brokers": {id: (host, port)}, "controller": id,
     "topics": {name: {p: {"err", "leader", "replicas", "isr"}}}}"""
    r = _R(_request(port, 3, 1, struct.pack(">i", -1)))
    brokers = {}
    for _ in range(r.take(">i")):
        nid = r.take(">i")
        host = r.s()
        bport = r.take(">i")
        r.s()  # rack
        brokers[nid] = (host, bport)
    ctrl = r.take(">i")
    tps = {}
    for _ in range(r.take(">i")):
        r.take(">h")
        name = r.s()
        r.take(">b")
        parts = {}
        for _ in range(r.take(">i")):
            err, idx, leader = r.take(">hii")
            reps = [r.take(">i") for _ in range(r.take(">i"))]
            isr = [r.take(">i") for _ in range(r.take(">i"))]
            parts[idx] = {"err": err, "leader": leader, "replicas": reps, "isr": isr}
        tps[name] = parts
    return {"brokers": brokers, "controller": ctrl, "topics": tps}


def fetch_error(port, topic, partition):
    """Fetch v4 of one partition at offset 0, max_wait 0: its error code."""
    body = struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0) + struct.pack(">i", 1) + _str(topic)
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, 0, 1 << 20)
    r = _R(_request(port, 1, 4, body))
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    r.s()
    assert r.take(">i") == 1
    _, err = r.take(">ih")
    return err


def list_offsets_error(port, topic, partition):
    """ListOffsets v1 of one partition (latest): its error code."""
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + _str(topic)
    body += struct.pack(">i", 1) + struct.pack(">iq", partition, -1)
    r = _R(_request(port, 2, 1, body))
    assert r.take(">i") == 1
    r.s()
    assert r.take(">i") == 1
    _, err = r.take(">ih")
    return err


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, AssertionError, struct.error) as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


# ---- fixtures ----

@pytest.fixture
def cluster(tmp_path, broker_factory, request):
    """Three controllers and brokers 1 and 2. Indirect parametrization may
    pass extra broker config (a dict of sections)."""
    extra = getattr(request, "param", None) or {}
    ports = [(free_port(), free_port()) for _ in range(3)]
    peers = ["%d@127.0.0.1:%d" % (i + 1, p[0]) for i, p in enumerate(ports)]
    cs = [Controller(tmp_path / ("c%d" % (i + 1)), i + 1, p[0], p[1], peers) for i, p in enumerate(ports)]
    for c in cs:
        c.start()
    wait_leader(eps(cs))

    def make_broker(bid):
        cfg = {
            "broker": {"id": bid},
            "controller": {"endpoints": eps(cs), "heartbeat_interval_ms": HEARTBEAT_MS,
                           "session_timeout_ms": SESSION_MS},
            "topics": {"auto_create": False},
        }
        for k, v in extra.items():
            cfg.setdefault(k, {}).update(v)
        return broker_factory(cfg, name="broker%d" % bid)

    b1 = make_broker(1)
    b2 = make_broker(2)
    yield cs, b1, b2
    # brokers first (their controlled shutdown needs the quorum), then controllers
    broker_factory.close()
    broker_factory.brokers.clear()
    for c in cs:
        if c.proc and c.proc.poll() is None:
            c.stop()


def both_registered(b1, b2):
    def ok():
        for b in (b1, b2):
            m = metadata(b.port)
            if m["brokers"] != {1: ("127.0.0.1", b1.port), 2: ("127.0.0.1", b2.port)}:
                return False
        return True
    return ok


# ---- tests ----

def test_brokers_share_controller_metadata(cluster):
    cs, b1, b2 = cluster
    wait_for(both_registered(b1, b2), 10, "both brokers registered and listed by both")

    # CreateTopics through broker 2: goes to the controller
    name = unique("clu")
    a2 = admin(b2.bootstrap)
    a2.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])[name].result(30)
    assert topics(eps(cs))[name]["partitions"] == 4

    def spread():
        views = [metadata(b.port)["topics"].get(name) for b in (b1, b2)]
        if not all(v and len(v) == 4 for v in views):
            return None
        return views
    v1, v2 = wait_for(spread, 10, "topic on both brokers")
    assert v1 == v2
    leaders = sorted(p["leader"] for p in v1.values())
    assert leaders == [1, 1, 2, 2], v1
    for p in v1.values():
        assert p["err"] == 0 and p["replicas"] == [p["leader"]] and p["isr"] == [p["leader"]]

    # a broker refuses partitions it does not lead
    p_on_1 = min(i for i, p in v1.items() if p["leader"] == 1)
    assert fetch_error(b2.port, name, p_on_1) == NOT_LEADER_OR_FOLLOWER
    assert fetch_error(b1.port, name, p_on_1) == 0
    assert list_offsets_error(b2.port, name, p_on_1) == NOT_LEADER_OR_FOLLOWER
    assert list_offsets_error(b1.port, name, p_on_1) == 0

    # clients follow the leaders: every record comes back
    boot = "%s,%s" % (b1.bootstrap, b2.bootstrap)
    p = producer(boot)
    for i in range(200):
        p.produce(name, value=b"v%d" % i, partition=i % 4)
    assert p.flush(30) == 0
    c = consumer(boot, **{"auto.offset.reset": "earliest"})
    c.subscribe([name])
    got = set()
    deadline = time.monotonic() + 30
    while len(got) < 200 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.add(m.value())
    c.close()
    assert len(got) == 200

    # the REST admin APIs agree: both brokers' and the controllers' list
    # both brokers and report the partitions' leaders from the shared state
    def rest(base, path):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            return json.loads(r.read())
    bases = ["http://" + b.config["admin"]["listen"] for b in (b1, b2)] + \
            ["http://" + c.config["controller"]["http_listen"] for c in cs]
    for base in bases:
        def agreed(base=base):
            ids = sorted(x["id"] for x in rest(base, "/api/v1/brokers")["brokers"])
            parts = rest(base, "/api/v1/topics/" + name)["partition_details"]
            return ids == [1, 2] and sorted(q["leader"] for q in parts) == leaders
        wait_for(agreed, 10, "brokers and leaders over REST at " + base)

    # CreatePartitions and AlterConfigs through broker 1 reach broker 2
    a1 = admin(b1.bootstrap)
    a1.create_partitions([NewPartitions(name, 6)])[name].result(30)
    wait_for(lambda: len(metadata(b2.port)["topics"].get(name, {})) == 6, 10, "6 partitions on broker 2")
    res = ConfigResource("topic", name, set_config={"retention.ms": "123456"})
    a1.alter_configs([res])[res].result(30)

    def altered():
        got = a2.describe_configs([ConfigResource("topic", name)])
        cfg = list(got.values())[0].result(10)
        return cfg["retention.ms"].value == "123456"
    wait_for(altered, 10, "AlterConfigs through broker 1 visible on broker 2")

    # DeleteTopics through broker 2
    a2.delete_topics([name])[name].result(30)
    assert name not in topics(eps(cs))
    wait_for(lambda: name not in metadata(b1.port)["topics"], 10, "topic gone on broker 1")
    # ...and broker 1 drops the WAL streams it held for it without a restart
    def dropped():
        return set(re.findall(r'msg="dropping stream of a deleted topic" stream=(\d+)', b1.log_text(run_only=True)))
    # the two partitions broker 1 led and wrote (of 0..3; 4 and 5 never got data)
    wait_for(lambda: len(dropped()) >= 2, 10, "broker 1 dropping its streams of the deleted topic")
    time.sleep(0.5)
    assert len(dropped()) == 2, dropped()


def test_kill9_broker_fenced_and_returns(cluster):
    cs, b1, b2 = cluster
    wait_for(both_registered(b1, b2), 10, "both brokers registered")
    name = unique("fence")
    a1 = admin(b1.bootstrap)  # kept referenced: the futures die with the handle
    a1.create_topics([NewTopic(name, 2, 1)])[name].result(30)
    wait_for(lambda: len(metadata(b2.port)["topics"].get(name, {})) == 2, 10, "topic on broker 2")
    before = metadata(b1.port)["topics"][name]
    on2 = [i for i, p in before.items() if p["leader"] == 2]
    on1 = [i for i, p in before.items() if p["leader"] == 1]
    assert on1 and on2
    boot = "%s,%s" % (b1.bootstrap, b2.bootstrap)
    p = producer(boot)
    for i in range(40):
        p.produce(name, value=b"r%d" % i, partition=i % 2)
    assert p.flush(30) == 0

    t0 = time.monotonic()
    b2.kill9()

    def fenced():
        m = metadata(b1.port)
        if 2 in m["brokers"]:
            return None
        return m
    m = wait_for(fenced, SESSION_MS / 1000 + 10, "broker 2 fenced in broker 1's metadata")
    took = time.monotonic() - t0
    print("\nbroker kill -9 -> fenced in the survivor's Metadata: %.2f s (session timeout %.1f s)"
          % (took, SESSION_MS / 1000))
    assert took >= SESSION_MS / 1000 * 0.8, "fenced before the session timeout"
    assert m["brokers"] == {1: ("127.0.0.1", b1.port)}
    for i in on2:
        part = m["topics"][name][i]
        assert part["err"] == LEADER_NOT_AVAILABLE and part["leader"] == -1, part
        assert part["replicas"] == [2]  # the data still lives there
    for i in on1:
        assert m["topics"][name][i]["leader"] == 1 and m["topics"][name][i]["err"] == 0
    assert fetch_error(b1.port, name, on2[0]) == LEADER_NOT_AVAILABLE
    assert any("broker fenced" in c.log_text() for c in cs)

    # the broker comes back: new epoch, its partitions are led by it again
    b2.start()
    wait_for(both_registered(b1, b2), 15, "broker 2 registered again")
    wait_for(lambda: all(metadata(b1.port)["topics"][name][i]["leader"] == 2 for i in on2), 10,
             "partitions back on broker 2")
    assert "registered" in b2.log_text(run_only=True)
    c = consumer(boot, **{"auto.offset.reset": "earliest"})
    c.subscribe([name])
    got = set()
    deadline = time.monotonic() + 30
    while len(got) < 40 and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            got.add(msg.value())
    c.close()
    assert len(got) == 40


def test_controller_failover_keeps_brokers(cluster):
    cs, b1, b2 = cluster
    wait_for(both_registered(b1, b2), 10, "both brokers registered")
    leader = wait_leader(eps(cs))
    lc = cs[leader["node_id"] - 1]
    lc.kill9()
    wait_leader(eps(cs), exclude=leader["node_id"])
    # the watch resumes on another controller: a topic created through one
    # broker after the failover reaches the other
    name = unique("fo")
    a2 = admin(b2.bootstrap)
    a2.create_topics([NewTopic(name, 2, 1)])[name].result(30)
    wait_for(lambda: len(metadata(b1.port)["topics"].get(name, {})) == 2, 15, "topic on broker 1 after failover")
    # nobody was fenced by the new leader (grace period after election)
    time.sleep(SESSION_MS / 1000 + 0.5)
    assert both_registered(b1, b2)()
    lc.start()


def test_one_group_coordinator_across_brokers(cluster):
    """Members of one group bootstrapped through different brokers find the
    same coordinator (the leader of the group's __consumer_offsets
    partition) and share the partitions instead of forming one group per
    broker; a commit through one member is what the other reads back."""
    cs, b1, b2 = cluster
    wait_for(both_registered(b1, b2), 10, "both brokers registered")
    name = unique("grp")
    a1 = admin(b1.bootstrap)  # kept referenced: the future dies with the handle
    a1.create_topics([NewTopic(name, 4, 1)])[name].result(30)
    wait_for(lambda: all(len(metadata(b.port)["topics"].get(name, {})) == 4 for b in (b1, b2)), 10,
             "topic on both brokers")
    group = unique("g")
    conf = {"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    c1 = consumer(b1.bootstrap, **conf)
    c2 = consumer(b2.bootstrap, **conf)
    try:
        c1.subscribe([name])
        c2.subscribe([name])

        def balanced():
            for c in (c1, c2):
                c.poll(0.2)
            a1 = {tp.partition for tp in c1.assignment()}
            a2 = {tp.partition for tp in c2.assignment()}
            return (a1, a2) if a1 and a2 and not (a1 & a2) and (a1 | a2) == {0, 1, 2, 3} else None
        a1, a2 = wait_for(balanced, 60, "one group sharing the 4 partitions")
        print("\nassignments through broker 1: %s, through broker 2: %s" % (sorted(a1), sorted(a2)))
        # a commit through either member lands at the one coordinator
        c1.commit(offsets=[TopicPartition(name, min(a1), 3)], asynchronous=False)
        got = c2.committed([TopicPartition(name, min(a1))], timeout=10)
        assert got[0].offset == 3, got
    finally:
        c1.close()
        c2.close()


MiB = 1024 * 1024
TIER = {"wal": {"capacity_bytes": 32 * MiB, "segment_size_bytes": 4 * MiB, "upload_interval_ms": 1000}}


def _metric(b, name):
    url = "http://%s/metrics" % b.config["admin"]["listen"]
    with urllib.request.urlopen(url, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


@pytest.mark.parametrize("cluster", [TIER], indirect=True)
def test_both_brokers_tier_their_partitions(cluster):
    """Each broker uploads the sealed segments of the partitions it leads
    (the manifest is the cluster's): both brokers' uploads commit, and after
    both WALs are wiped every record is read back from the objects."""
    cs, b1, b2 = cluster
    wait_for(both_registered(b1, b2), 10, "both brokers registered")
    name = unique("tier2")
    a1 = admin(b1.bootstrap)
    a1.create_topics([NewTopic(name, 2, 1)])[name].result(30)
    wait_for(lambda: len(metadata(b2.port)["topics"].get(name, {})) == 2, 10, "topic on broker 2")
    leaders = {i: p["leader"] for i, p in metadata(b1.port)["topics"][name].items()}
    assert sorted(leaders.values()) == [1, 2], leaders
    boot = "%s,%s" % (b1.bootstrap, b2.bootstrap)
    p = producer(boot, **{"enable.idempotence": True, "linger.ms": 20, "batch.size": 1 << 20})
    n = 2 * 12 * 1024  # 12 MiB of 1 KiB records per partition: 3+ segments on each broker
    for i in range(n):
        p.produce(name, value=b"%08d" % i + b"x" * 1016, partition=i % 2)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    time.sleep(2.5)  # the time trigger (1 s) seals each broker's tail segment

    def uploaded():
        return all(_metric(b, "rustmq_object_uploads_pending") == 0 and
                   (_metric(b, "rustmq_object_uploads_total") or 0) >= 3 for b in (b1, b2))
    wait_for(uploaded, 60, "both brokers' segments to be uploaded")
    for b in (b1, b2):
        assert "manifest commit failed" not in b.log_text(), b.name
    for b in (b1, b2):
        b.stop()
        for f in os.listdir(os.path.join(b.data_dir, "wal")):
            os.remove(os.path.join(b.data_dir, "wal", f))
    for b in (b1, b2):
        b.start()
    wait_for(both_registered(b1, b2), 15, "both brokers back")
    c = consumer(boot, **{"auto.offset.reset": "earliest"})
    c.assign([TopicPartition(name, q, 0) for q in range(2)])
    got = {0: [], 1: []}
    deadline = time.monotonic() + 120
    while sum(len(v) for v in got.values()) < n and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            got[msg.partition()].append(int(msg.value()[:8]))
    c.close()
    for q in range(2):
        assert got[q] == list(range(q, n, 2)), "partition %d: %d records back" % (q, len(got[q]))

    def objects(b):
        root = os.path.join(b.data_dir, "objects")
        return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".obj")]
    assert objects(b1) and objects(b2)
    # DeleteRecords up to the high watermark of broker 2's partition: its
    # retention pass trims the manifest through the controller, whose answer
    # names no deletable keys, and still deletes every object it emptied
    q2 = next(q for q, l in leaders.items() if l == 2)
    res = delete_records(b2.bootstrap, {name: {q2: -1}})
    assert res == {(name, q2): (n // 2, 0)}, res
    wait_for(lambda: not objects(b2), 30, "broker 2's emptied objects deleted")
    assert objects(b1)

    # DeleteTopics through broker 1: broker 2's objects go too, while it runs
    # (broker 1's delete cannot name them: they are in broker 2's own store)
    log = produce_all(producer(boot), name, [{"value": b"after", "partition": q2}])
    assert not log.failed
    wait_for(lambda: objects(b2), 30, "broker 2's new record uploaded (time trigger)")
    a1.delete_topics([name], operation_timeout=30)[name].result(30)
    wait_for(lambda: not objects(b1) and not objects(b2), 30, "both brokers' objects of the deleted topic gone")

"""Consumer groups against a real rustmq-broker with real Kafka clients.

Owns: the group coordinator's end-to-end behaviour - three confluent-kafka
consumers sharing a 12-partition topic (each partition exactly once), a
SIGKILLed consumer's partitions moving to the survivors with at-least-once
processing and duplicates only in the uncommitted window, cooperative-sticky
incremental rebalancing, static membership (a restart within the session
timeout causes no rebalance), kafka-python consumers in a group, `kcat -G`,
committed offsets surviving a broker restart, and the admin APIs
(ListGroups, DescribeGroups, OffsetFetch, DeleteGroups).

Consumers that must be killed run as subprocesses of GROUP_WORKER (written to
the test's tmp dir): each prints one JSON line per event (assignment change,
message processed, commit result) and flushes it, so what the parent reads
is exactly what the child did before it died. Every wait is bounded; no test
asserts a duration.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpers import create_topic, produce_all, producer, unique

PY = "/usr/bin/python3"
SESSION_MS = 6000

BROKER_CONFIG = {
    # exercise the delayed first rebalance, but keep it short
    "groups": {"initial_rebalance_delay_ms": 500},
    "topics": {"auto_create": True, "default_partitions": 1},
}

GROUP_WORKER = r'''
import json, signal, sys, time
from confluent_kafka import Consumer, KafkaException
conf = json.loads(sys.argv[1])
topic = sys.argv[2]
stop = False
def on_term(*a):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()
c = Consumer(conf)
c.subscribe([topic])
last = None
while not stop:
    m = c.poll(0.2)
    a = sorted(tp.partition for tp in c.assignment())
    if a != last:
        emit(ev="assign", parts=a)
        last = a
    if m is None or m.error():
        continue
    emit(ev="msg", p=m.partition(), o=m.offset(), v=m.value().decode())
    try:
        c.commit(message=m, asynchronous=False)
    except KafkaException as e:
        emit(ev="commitfail", p=m.partition(), o=m.offset(), err=str(e))
c.close()
emit(ev="closed")
'''


class Worker:
    """One consumer subprocess; events are collected by a reader thread."""

    def __init__(self, path, bootstrap, group, topic, **extra):
        conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "session.timeout.ms": SESSION_MS,
                "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100}
        conf.update(extra)
        self.proc = subprocess.Popen([PY, path, json.dumps(conf), topic], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.events = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def evs(self, kind):
        with self.lock:
            return [e for e in self.events if e["ev"] == kind]

    @property
    def assignment(self):
        a = self.evs("assign")
        return set(a[-1]["parts"]) if a else set()

    def assignments(self):
        return [set(e["parts"]) for e in self.evs("assign")]

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.t.join(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.t.join(timeout=10)


@pytest.fixture
def workers(tmp_path):
    path = str(tmp_path / "group_worker.py")
    with open(path, "w") as f:
        f.write(GROUP_WORKER)
    made = []

    def make(*a, **kw):
        w = Worker(path, *a, **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(timeout=10)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def balanced(ws, n):
    """Every partition 0..n-1 assigned to exactly one of ws."""
    parts = [p for w in ws for p in w.assignment]
    return len(parts) == n and set(parts) == set(range(n))


def produce_range(bootstrap, topic, start, count, partitions):
    p = producer(bootstrap)
    log = produce_all(p, topic, [{"value": str(i).encode(), "partition": i % partitions}
                                 for i in range(start, start + count)])
    assert not log.failed


def seen_values(ws):
    return [e["v"] for w in ws for e in w.evs("msg")]


# ------------------------------------------------------------------ tests

def test_three_consumers_kill_one(module_broker, workers):
    bs = module_broker.bootstrap
    topic = create_topic(bs, unique("g12"), partitions=12)
    group = unique("grp")
    ws = [workers(bs, group, topic) for _ in range(3)]
    wait_for(lambda: balanced(ws, 12) and all(w.assignment for w in ws), 60, "3 consumers sharing 12 partitions")
    produce_range(bs, topic, 0, 600, 12)
    wait_for(lambda: len(set(seen_values(ws))) >= 600, 60, "first 600 messages processed")

    victim = ws[1]
    victim_parts = victim.assignment
    # keep producing while the victim dies, so it dies mid-stream
    t = threading.Thread(target=produce_range, args=(bs, topic, 600, 600, 12))
    t.start()
    time.sleep(0.3)
    victim.kill9()
    t.join(timeout=120)
    survivors = [ws[0], ws[2]]
    # its partitions move to the survivors within session timeout + rebalance
    wait_for(lambda: balanced(survivors, 12), SESSION_MS / 1000 + 60, "survivors owning all 12 partitions")
    wait_for(lambda: len(set(seen_values(ws))) >= 1200, 60, "all 1200 messages processed")
    assert set(seen_values(ws)) == {str(i) for i in range(1200)}

    # duplicates only in the uncommitted window: the victim's last processed
    # message of a partition (killed between processing and commit), or a
    # message whose commit failed during a rebalance
    counts = {}
    for w in ws:
        for e in w.evs("msg"):
            counts[(e["p"], e["o"])] = counts.get((e["p"], e["o"]), 0) + 1
    allowed = set((e["p"], e["o"]) for w in ws for e in w.evs("commitfail"))
    last_of_victim = {}
    for e in victim.evs("msg"):
        last_of_victim[e["p"]] = max(last_of_victim.get(e["p"], -1), e["o"])
    allowed |= set(last_of_victim.items())
    dups = {k: c for k, c in counts.items() if c > 1}
    bad = {k: c for k, c in dups.items() if k not in allowed or c > 2}
    assert not bad, "duplicates outside the uncommitted window: %r (victim partitions %r)" % (bad, victim_parts)
    for w in survivors:
        w.stop()


def test_cooperative_sticky_incremental(module_broker, workers):
    bs = module_broker.bootstrap
    topic = create_topic(bs, unique("coop"), partitions=12)
    group = unique("coopgrp")
    extra = {"partition.assignment.strategy": "cooperative-sticky"}
    ws = [workers(bs, group, topic, **extra) for _ in range(3)]
    wait_for(lambda: balanced(ws, 12) and all(len(w.assignment) == 4 for w in ws), 90,
             "cooperative group balanced 4/4/4")
    before = {id(w): w.assignment for w in ws}
    marks = {id(w): len(w.assignments()) for w in ws}
    leaving = ws[0]
    leaving.stop()
    survivors = ws[1:]
    wait_for(lambda: balanced(survivors, 12), 60, "survivors owning all 12 partitions")
    # incremental: no survivor ever lost a partition it owned before
    for w in survivors:
        for a in w.assignments()[marks[id(w)] - 1:]:
            assert before[id(w)] <= a, "survivor lost partitions: had %r, then %r" % (before[id(w)], a)
    for w in survivors:
        w.stop()


def rebalance_lines(broker, group):
    return [l for l in broker.log_text().splitlines()
            if "preparing rebalance" in l and ("group=%s " % group) in l]


def test_static_member_restart_no_rebalance(module_broker, workers):
    bs = module_broker.bootstrap
    topic = create_topic(bs, unique("static"), partitions=6)
    group = unique("staticgrp")
    extra = {"session.timeout.ms": 20000}
    a = workers(bs, group, topic, **dict(extra, **{"group.instance.id": "inst-a"}))
    b = workers(bs, group, topic, **dict(extra, **{"group.instance.id": "inst-b"}))
    wait_for(lambda: balanced([a, b], 6) and a.assignment and b.assignment, 60, "static group balanced")
    # let the group settle (the last SyncGroup done, no rebalance pending)
    wait_for(lambda: 'msg="group stable"' in module_broker.log_text() and
             [l for l in module_broker.log_text().splitlines()
              if "group stable" in l and ("group=%s " % group) in l], 30, "group stable")
    n_rebalances = len(rebalance_lines(module_broker, group))
    a_marks = len(a.assignments())
    b_parts = b.assignment
    b.kill9()
    b2 = workers(bs, group, topic, **dict(extra, **{"group.instance.id": "inst-b"}))
    wait_for(lambda: b2.assignment, 60, "restarted static member assigned")
    assert b2.assignment == b_parts
    produce_range(bs, topic, 0, 60, 6)
    wait_for(lambda: len(set(seen_values([a, b, b2]))) >= 60, 60, "messages after the restart")
    assert len(rebalance_lines(module_broker, group)) == n_rebalances, "the static restart caused a rebalance"
    assert len(a.assignments()) == a_marks, "the other member's assignment changed"
    a.stop()
    b2.stop()


def test_kafka_python_group(module_broker):
    from kafka import KafkaConsumer
    bs = module_broker.bootstrap
    topic = create_topic(bs, unique("kp"), partitions=4)
    group = unique("kpgrp")
    produce_range(bs, topic, 0, 80, 4)
    seen = set()
    assigned = {}
    lock = threading.Lock()
    done = threading.Event()

    # kafka-python blocks inside poll() while its JoinGroup is parked, so
    # each consumer needs its own thread (as in real deployments)
    def run(i):
        c = KafkaConsumer(topic, bootstrap_servers=bs, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500,
                          max_poll_interval_ms=20000, api_version_auto_timeout_ms=10000)
        try:
            while not done.is_set():
                recs = c.poll(timeout_ms=200)
                with lock:
                    for tp, msgs in recs.items():
                        for m in msgs:
                            seen.add(m.value.decode())
                    assigned[i] = sorted(tp.partition for tp in c.assignment())
                if recs:
                    c.commit()
        finally:
            c.close()

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for t in ts:
        t.start()

    def ok():
        with lock:
            parts = [p for a in assigned.values() for p in a]
            return len(seen) >= 80 and sorted(parts) == [0, 1, 2, 3] and len(assigned) == 2 and all(assigned.values())
    try:
        wait_for(ok, 90, "two kafka-python consumers sharing 4 partitions and all 80 messages")
        assert seen == {str(i) for i in range(80)}
    finally:
        done.set()
        for t in ts:
            t.join(timeout=30)
    # the commits are visible through OffsetFetch
    from kafka import KafkaAdminClient
    adm = KafkaAdminClient(bootstrap_servers=bs)
    try:
        offs = adm.list_consumer_group_offsets(group)
        assert {tp.partition: om.offset for tp, om in offs.items() if tp.topic == topic} == {0: 20, 1: 20, 2: 20, 3: 20}
    finally:
        adm.close()


def test_kcat_balanced_consumer(module_broker):
    bs = module_broker.bootstrap
    topic = create_topic(bs, unique("kcat"), partitions=3)
    produce_range(bs, topic, 0, 30, 3)
    out = subprocess.run(["kcat", "-b", bs, "-G", unique("kcatgrp"), "-X", "auto.offset.reset=earliest",
                          "-c", "30", "-f", "%s\n", "-q", topic],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert sorted(out.stdout.decode().split()) == sorted(str(i) for i in range(30))


def test_restart_keeps_committed_offsets(broker_factory):
    from confluent_kafka import Consumer, TopicPartition
    b = broker_factory(config={"groups": {"initial_rebalance_delay_ms": 0}})
    bs = b.bootstrap
    topic = create_topic(bs, unique("rst"), partitions=2)
    group = unique("rstgrp")
    produce_range(bs, topic, 0, 100, 2)
    conf = {"bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": SESSION_MS}
    c = Consumer(conf)
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 40 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append((m.partition(), m.offset()))
            c.commit(message=m, asynchronous=False)
    c.close()
    assert len(got) == 40
    committed = {}
    for p, o in got:
        committed[p] = max(committed.get(p, 0), o + 1)
    b.restart()
    c = Consumer(conf)
    try:
        offs = c.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        assert {tp.partition: tp.offset for tp in offs} == {p: committed.get(p, -1001) for p in range(2)}
        c.subscribe([topic])
        first = {}
        deadline = time.monotonic() + 60
        while len(first) < 2 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error() and m.partition() not in first:
                first[m.partition()] = m.offset()
        # consumers resume where they committed
        assert first == {p: committed.get(p, 0) for p in range(2)}
    finally:
        c.close()


def errname(e):
    # kafka-python hands back error classes (not instances) per group
    return e.__name__ if isinstance(e, type) else type(e).__name__


def test_admin_list_describe_delete(module_broker):
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient
    from kafka import KafkaAdminClient
    from kafka.errors import GroupIdNotFoundError, NonEmptyGroupError
    bs = module_broker.bootstrap
    topic = create_topic(bs, unique("adm"), partitions=2)
    group = unique("admgrp")
    produce_range(bs, topic, 0, 10, 2)
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": SESSION_MS})
    c.subscribe([topic])
    deadline = time.monotonic() + 60
    n = 0
    while n < 10 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            n += 1
            c.commit(message=m, asynchronous=False)
    assert n == 10
    adm = KafkaAdminClient(bootstrap_servers=bs)
    try:
        groups = dict(adm.list_consumer_groups())
        assert groups.get(group) == "consumer"
        # confluent's list_groups (ListGroups + DescribeGroups)
        cgroups = {g.id: g for g in AdminClient({"bootstrap.servers": bs}).list_groups(timeout=10)}
        assert cgroups[group].state == "Stable"
        assert len(cgroups[group].members) == 1
        d = adm.describe_consumer_groups([group])[0]
        assert d.state == "Stable"
        assert d.protocol_type == "consumer"
        assert d.protocol == "range"
        assert len(d.members) == 1
        offs = adm.list_consumer_group_offsets(group)
        assert {tp.partition: om.offset for tp, om in offs.items()} == {0: 5, 1: 5}
        # a group with a member cannot be deleted
        res = adm.delete_consumer_groups([group])
        assert len(res) == 1 and errname(res[0][1]) == NonEmptyGroupError.__name__, res
        c.close()
        c = None
        wait_for(lambda: adm.describe_consumer_groups([group])[0].state == "Empty", 30, "group empty")
        res = adm.delete_consumer_groups([group])
        assert errname(res[0][1]) == "NoError", res
        assert group not in dict(adm.list_consumer_groups())
        assert adm.describe_consumer_groups([group])[0].state == "Dead"
        offs = adm.list_consumer_group_offsets(group)
        assert all(om.offset == -1 for om in offs.values())
        res = adm.delete_consumer_groups([group])
        assert errname(res[0][1]) == GroupIdNotFoundError.__name__, res
    finally:
        adm.close()
        if c is not None:
            c.close()

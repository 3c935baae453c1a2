#!/usr/bin/python3
"""bench_groups.py - consumer-group figures of rustmq-broker with real clients.

Starts its own broker (a temporary data dir on 127.0.0.1, fsync on) and
measures, with confluent-kafka (librdkafka) consumers in this process:
  1. cold start: time from subscribe() of 10 fresh consumers until every one
     holds partitions and together they own all partitions once (with the
     broker's initial_rebalance_delay_ms at 3000 = Kafka's default, and 0);
  2. rebalance after one of the 10 leaves (close() -> LeaveGroup) until the
     9 survivors own every partition again, with librdkafka's default
     settings and with tuned ones (heartbeat.interval.ms=100, cooperative-sticky);
  3. OffsetCommit throughput: synchronous commits (one in flight, each waits
     for the WAL fsync) and asynchronous commits (many in flight, group
     commit in the WAL) of one partition's offset.

Usage: /usr/bin/python3 bench/bench_groups.py [--broker build/rustmq-broker]
       [--consumers 10] [--partitions 20] [--seconds 5] [--runs 3]
Prints one line per figure (median of --runs where it applies).
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, binary, delay_ms):
        self.dir = tempfile.mkdtemp(prefix="rmq-bench-groups-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "broker.toml")
        with open(cfg, "w") as f:
            f.write('[broker]\nid = 1\ndata_dir = "%s/data"\n' % self.dir)
            f.write('[network]\nlisten = "127.0.0.1:%d"\nrpc_listen = "127.0.0.1:%d"\n' % (self.port, free_port()))
            f.write('[admin]\nlisten = "127.0.0.1:%d"\n' % free_port())
            f.write("[wal]\ncapacity_bytes = 268435456\nsegment_size_bytes = 16777216\n")
            f.write("[groups]\ninitial_rebalance_delay_ms = %d\n" % delay_ms)
            f.write('[log]\nlevel = "warn"\n')
        self.log = open(os.path.join(self.dir, "broker.log"), "wb")
        self.proc = subprocess.Popen([binary, "--config", cfg], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("broker did not start")

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def create_topic(bs, name, partitions):
    a = AdminClient({"bootstrap.servers": bs})
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(30)


def balanced(cs, n):
    parts = [tp.partition for c in cs for tp in c.assignment()]
    return len(parts) == n and set(parts) == set(range(n)) and all(c.assignment() for c in cs)


def pump_until(cs, pred, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for c in cs:
            c.poll(0)
        if pred():
            return time.monotonic() - t0
        time.sleep(0.005)
    raise RuntimeError("timed out")


def make_consumers(bs, group, n, extra):
    conf = {"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 10000}
    conf.update(extra)
    return [Consumer(conf) for _ in range(n)]


def cold_and_leave(bs, topic, parts, n, extra, tag):
    group = "bench-%s-%d" % (tag, time.monotonic_ns())
    cs = make_consumers(bs, group, n, extra)
    t0 = time.monotonic()
    for c in cs:
        c.subscribe([topic])
    pump_until(cs, lambda: balanced(cs, parts), 120)
    cold = time.monotonic() - t0
    # let the last heartbeats settle, then one member leaves
    pump_until(cs, lambda: False if time.monotonic() - t0 < cold + 1.0 else True, 5)
    leaver = cs.pop()
    t1 = time.monotonic()
    leaver.close()
    pump_until(cs, lambda: balanced(cs, parts), 120)
    leave = time.monotonic() - t1
    for c in cs:
        c.close()
    return cold, leave


def commit_throughput(bs, topic, seconds):
    c = Consumer({"bootstrap.servers": bs, "group.id": "bench-commit-%d" % time.monotonic_ns(),
                  "enable.auto.commit": False})
    # simple (generation -1) commits: no subscription needed
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        c.commit(offsets=[TopicPartition(topic, 0, n + 1)], asynchronous=False)
        n += 1
    sync_rate = n / (time.monotonic() - t0)
    done = [0]

    def on_commit(err, parts):
        if err is None:
            done[0] += 1
    c2 = Consumer({"bootstrap.servers": bs, "group.id": "bench-commit-a-%d" % time.monotonic_ns(),
                   "enable.auto.commit": False, "on_commit": on_commit})
    c2.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)  # coordinator known
    sent = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if sent - done[0] < 256:
            c2.commit(offsets=[TopicPartition(topic, 0, sent + 2)], asynchronous=True)
            sent += 1
        else:
            c2.poll(0.001)
    while done[0] < sent and time.monotonic() - t0 < seconds + 30:
        c2.poll(0.01)
    async_rate = done[0] / (time.monotonic() - t0)
    c.close()
    c2.close()
    return sync_rate, async_rate


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--broker", default=os.path.join(here, "..", "build", "rustmq-broker"))
    ap.add_argument("--consumers", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tuned = {"heartbeat.interval.ms": 100, "partition.assignment.strategy": "cooperative-sticky"}
    for delay in (3000, 0):
        b = Broker(a.broker, delay)
        try:
            topic = "bench-groups"
            create_topic(b.bootstrap, topic, a.partitions)
            for name, extra in (("default", {}), ("tuned", tuned)):
                colds, leaves = [], []
                for r in range(a.runs):
                    cold, leave = cold_and_leave(b.bootstrap, topic, a.partitions, a.consumers, extra, name)
                    colds.append(cold)
                    leaves.append(leave)
                print("initial_rebalance_delay_ms=%-5d clients=%-8s %d consumers stable from cold: median %.2f s "
                      "(runs %s); rebalance after one leaves: median %.2f s (runs %s)"
                      % (delay, name, a.consumers, statistics.median(colds), " ".join("%.2f" % x for x in colds),
                         statistics.median(leaves), " ".join("%.2f" % x for x in leaves)), flush=True)
            if delay == 0:
                s, asy = commit_throughput(b.bootstrap, topic, a.seconds)
                print("OffsetCommit (1 partition, fsync on): synchronous %.0f commits/s, "
                      "asynchronous (<=256 in flight) %.0f commits/s" % (s, asy), flush=True)
        finally:
            b.close()


if __name__ == "__main__":
    main()

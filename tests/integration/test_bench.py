"""rustmq-bench against a real broker: what it reports is what the broker
stored. A produce run's RESULT line is checked against the topic read back
with confluent-kafka, unkeyed (the default) and with --keys (each message
keyed with one of N keys in turn, so librdkafka's hash partitioner spreads
them over all partitions)."""
import json
import os
import subprocess
from collections import Counter, defaultdict

from conftest import BUILD_DIR
from helpers import read_all, unique

BENCH_BIN = os.path.join(BUILD_DIR, "rustmq-bench")


def run_bench(bootstrap, topic, *extra):
    """Runs rustmq-bench produce; returns its RESULT json."""
    cmd = [BENCH_BIN, "produce", "--bootstrap", bootstrap, "--topic", topic, "--partitions", "12",
           "--msg-size", "64", "--acks", "all", "--no-ceiling", "--disk-probe-mb", "0", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "rustmq-bench failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    results = [ln[len("RESULT "):] for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(results) == 1, p.stdout
    return json.loads(results[0])


def test_keyed_produce_spreads_keys_over_partitions(broker):
    topic = unique("bench-keys")
    r = run_bench(broker.bootstrap, topic, "--count", "2400", "--keys", "24")
    assert r["keys"] == 24
    assert r["produce"]["messages"] == 2400 and r["produce"]["failed"] == 0
    got = read_all(broker.bootstrap, topic, 12)
    assert sum(len(v) for v in got.values()) == 2400
    where = defaultdict(set)
    count = Counter()
    for part, msgs in got.items():
        for m in msgs:
            assert len(m.value()) == 64
            where[m.key()].add(part)
            count[m.key()] += 1
    # every key k0..k23 sent 100 times, each always to one partition
    assert set(count) == {b"k%d" % i for i in range(24)}
    assert all(c == 100 for c in count.values()), count
    assert all(len(parts) == 1 for parts in where.values()), dict(where)
    # 24 keys hashed over 12 partitions: spread, not one partition at a time
    used = {p for p, msgs in got.items() if msgs}
    assert len(used) >= 6, {p: len(m) for p, m in got.items()}


def test_unkeyed_produce_has_no_keys(broker):
    topic = unique("bench-nokeys")
    r = run_bench(broker.bootstrap, topic, "--count", "500")
    assert r["keys"] == 0
    assert r["produce"]["messages"] == 500 and r["produce"]["failed"] == 0
    got = read_all(broker.bootstrap, topic, 12)
    msgs = [m for v in got.values() for m in v]
    assert len(msgs) == 500
    assert all(m.key() is None for m in msgs)

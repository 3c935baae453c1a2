"""kcat (librdkafka 2.0.2) against a real broker: produce with keys and headers,
consume back and compare byte for byte; list topics with -L."""
import json
import re
import subprocess
import time


from helpers import create_topic, unique

KCAT = "/usr/bin/kcat"
N = 1000


def kcat(args, input_bytes=None, timeout=60):
    r = subprocess.run([KCAT] + args, input=input_bytes, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    assert r.returncode == 0, "kcat %s exited %d\nstderr:\n%s" % (
        " ".join(args), r.returncode, r.stderr.decode("utf-8", "replace")[-3000:])
    return r.stdout


def test_kcat_produce_consume_identical(module_broker):
    b = module_broker
    topic = unique("kcat")
    partitions = 3
    create_topic(b.bootstrap, topic, partitions)

    # Keys and values are printable and free of the separators used below.
    # Values vary in length (up to ~2 KB) so batches hold different sizes.
    msgs = []
    for i in range(N):
        key = "key-%d" % (i % 37)
        value = "value-%06d-" % i + ("abcdefghij" * (i % 200))
        msgs.append((key, value))
    inp = "".join("%s|%s\n" % kv for kv in msgs).encode()

    t0 = int(time.time() * 1000)
    kcat(["-b", b.bootstrap, "-P", "-t", topic, "-K", "|",
          "-H", "source=kcat", "-H", "trace=t-42",
          "-X", "acks=all", "-X", "linger.ms=5"], inp)
    t1 = int(time.time() * 1000)

    fmt = "%p\t%o\t%T\t%k\t%h\t%s\n"
    out = kcat(["-b", b.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                "-f", fmt]).decode()
    lines = [l for l in out.split("\n") if l]
    assert len(lines) == N, "consumed %d lines, produced %d" % (len(lines), N)

    by_part = {}
    seen = []
    for line in lines:
        p, o, ts, key, hdrs, value = line.split("\t")
        p, o, ts = int(p), int(o), int(ts)
        # kcat stamps CreateTime from the producer's clock when it produced
        assert t0 - 1000 <= ts <= t1 + 1000, "timestamp %d outside the produce window [%d, %d]" % (ts, t0, t1)
        assert hdrs == "source=kcat,trace=t-42", "headers %r" % hdrs
        by_part.setdefault(p, []).append((o, key, value, ts))
        seen.append((key, value))

    # identical content: every produced (key, value) exactly once
    assert sorted(seen) == sorted(msgs)
    assert set(by_part) <= set(range(partitions))

    produced_index = {kv: i for i, kv in enumerate(msgs)}
    key_part = {}
    for p, recs in by_part.items():
        offsets = [r[0] for r in recs]
        assert offsets == list(range(len(recs))), "partition %d offsets not 0..n-1 in order" % p
        order = [produced_index[(r[1], r[2])] for r in recs]
        assert order == sorted(order), "partition %d: messages out of produce order" % p
        for r in recs:
            assert key_part.setdefault(r[1], p) == p, "key %s in two partitions" % r[1]

    # a second read of one partition from a given offset returns the same suffix
    p0 = min(by_part)
    start = len(by_part[p0]) // 2
    out2 = kcat(["-b", b.bootstrap, "-C", "-t", topic, "-p", str(p0), "-o", str(start), "-e", "-q",
                 "-f", fmt]).decode()
    again = []
    for l in out2.split("\n"):
        if l:
            _, o, ts, key, _, value = l.split("\t")
            again.append((int(o), key, value, int(ts)))
    assert again == by_part[p0][start:]

    # query by timestamp: -Q with the first message's timestamp finds offset 0
    ts0 = by_part[p0][0][3]
    q = kcat(["-b", b.bootstrap, "-Q", "-t", "%s:%d:%d" % (topic, p0, ts0)]).decode()
    m = re.search(r"\[%d\] offset (-?\d+)" % p0, q)
    assert m and int(m.group(1)) == 0, "kcat -Q answered %r" % q


def test_kcat_list_topics(module_broker):
    b = module_broker
    names = {unique("kcat-list-a"): 1, unique("kcat-list-b"): 4}
    for n, parts in names.items():
        create_topic(b.bootstrap, n, parts)
    md = json.loads(kcat(["-b", b.bootstrap, "-L", "-J"]))
    topics = {t["topic"]: t for t in md["topics"]}
    for n, parts in names.items():
        assert n in topics, "kcat -L does not list %s: %s" % (n, sorted(topics))
        t = topics[n]
        assert "error" not in t or not t["error"], t
        assert sorted(p["partition"] for p in t["partitions"]) == list(range(parts))
        for p in t["partitions"]:
            assert p["leader"] == md["brokers"][0]["id"]
    assert len(md["brokers"]) == 1
    assert md["brokers"][0]["name"] == b.bootstrap

    # -L -t restricted to one topic
    n1 = next(iter(names))
    md1 = json.loads(kcat(["-b", b.bootstrap, "-L", "-J", "-t", n1]))
    assert [t["topic"] for t in md1["topics"]] == [n1]

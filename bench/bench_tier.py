#!/usr/bin/python3
"""bench_tier.py - object-storage tier figures of rustmq-broker, rerunnable.

Owns the tiering benchmark quoted in bench/README.md ("## Tiering"). For each
backend (local directory, s3rver) x partition count it starts a fresh
rustmq-broker (tests/integration/conftest.py's Broker: own temp data dir, free
ports on 127.0.0.1, fsync on) with a small WAL, so sealed segments must be
uploaded as objects and reclaimed while the producer runs, and measures:

  1. ingest: --mib MiB of 16 KiB values (idempotent producer, linger 20 ms),
     wall time from the first send to the last delivery report;
  2. uploads: waits until they settle (objects stop increasing and the WAL
     holds at most the active segment), then reads the broker's Prometheus
     counters from its admin listener (/metrics): PUTs per GiB ingested,
     objects, bytes stored / record bytes and / WAL append bytes, and the
     upload throughput (upload bytes / how long the upload counter took to
     reach its final value, from /metrics sampled every 0.5 s);
  3. cold read: SIGTERM, wipe the WAL directory's contents, start again and
     read every partition from offset 0 with assign(); checks that offsets are
     0..hw-1 and every value is the one produced there, and reports MiB/s and
     the object GET / cache-miss counters of that read.

The active (unsealed) segment is never uploaded within the run (the time
trigger, wal.upload_interval_ms, is left at its 10-minute default so it adds no
partial objects), so the cold read gets back everything but that tail.

It also measures the raw disk (256 MiB in 1 MiB writes, fdatasync after each,
in the temp dir) so the MiB/s figures can be read as ratios of this run's disk.

Usage: /usr/bin/python3 bench/bench_tier.py [--build-dir build] [--backend local|s3rver|both]
       [--mib 512] [--partitions 1,1000] [--wal-mib 64] [--segment-mib 16]
Every process it starts (brokers, s3rver) is stopped by its PID, and its temp
dirs removed, on success, failure and Ctrl-C. A benchmark: it asserts no times;
it exits 1 only if records read back differ from those produced.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import conftest  # noqa: E402  (Broker process wrapper, free_port)
from confluent_kafka import KafkaError, KafkaException, TopicPartition  # noqa: E402
from helpers import consumer, create_topic, producer, unique  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
VALUE = 16 * 1024
S3RVER_SH = os.path.join(ROOT, "tests", "tools", "s3rver.sh")
BUCKET = "rmq-bench"

# 256 distinct bodies; value i = 10-digit index + ":" + body[i % 256]: every
# value is unique and checkable, and building one costs a concatenation
_HEAD = len(b"%010d:" % 0)
_BODIES = [bytes((j * 7 + k) & 0xFF for k in range(64)) * ((VALUE - _HEAD) // 64) for j in range(256)]
_BODIES = [b + b"\0" * (VALUE - _HEAD - len(b)) for b in _BODIES]


def value_of(i):
    return b"%010d:" % i + _BODIES[i % 256]


# ------------------------------------------------------------------ processes

class Cleanup:
    """Everything this run started: brokers, s3rver processes, temp dirs."""

    def __init__(self):
        self.brokers = []
        self.procs = []
        self.dirs = []

    def run(self):
        for b in self.brokers:
            try:
                b.close()          # SIGTERM, then -9 by PID if it does not exit
            except Exception as e:  # keep cleaning up the rest
                print("cleanup: broker %r: %s" % (b, e), file=sys.stderr)
        self.brokers = []
        for p in self.procs:
            stop_proc(p)
        self.procs = []
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = []


CLEANUP = Cleanup()


def stop_proc(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def wait_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def start_s3rver(workdir):
    """s3rver on a free 127.0.0.1 port, data under workdir; returns (proc, port)."""
    path = subprocess.run(["sh", S3RVER_SH, "path"], capture_output=True, text=True).stdout.strip()
    if not (path and os.path.exists(path)):
        print("installing s3rver (tests/tools/s3rver.sh install) ...", flush=True)
        r = subprocess.run(["sh", S3RVER_SH, "install"], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("s3rver install failed:\n%s%s" % (r.stdout, r.stderr))
    port = conftest.free_port()
    log = open(os.path.join(workdir, "s3rver.log"), "wb")
    # own session: a Ctrl-C reaches only this script, which then stops it by PID
    proc = subprocess.Popen(["sh", S3RVER_SH, "start", os.path.join(workdir, "s3"), str(port), BUCKET],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    CLEANUP.procs.append(proc)
    if not wait_port(port, 30, proc):
        raise RuntimeError("s3rver did not listen on %d; see %s/s3rver.log" % (port, workdir))
    return proc, port


# ------------------------------------------------------------------ metrics

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def scrape(admin_port):
    """/metrics -> {name: sum over label sets}, plus {name{labels}: value}."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _LINE.match(line)
        if not m:
            continue
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out[m.group(1)] = out.get(m.group(1), 0.0) + v
        if m.group(2):
            out[m.group(1) + m.group(2)] = v
    return out


class Sampler(threading.Thread):
    """Samples /metrics every 0.5 s: [(monotonic time, metrics), ...]."""

    def __init__(self, admin_port):
        super().__init__(daemon=True)
        self.port = admin_port
        self.samples = []
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            try:
                self.samples.append((t, scrape(self.port)))
            except Exception:
                pass
            self.stop_ev.wait(max(0.0, 0.5 - (time.monotonic() - t)))

    def stop(self):
        self.stop_ev.set()
        self.join(10)

    def last(self):
        return self.samples[-1][1] if self.samples else {}


def upload_window(samples, final_bytes):
    """Seconds from the last sample with no upload bytes to the first sample
    showing final_bytes (0.5 s resolution at each end)."""
    t0 = t1 = None
    for t, m in samples:
        v = m.get("rustmq_object_upload_bytes_total", 0.0)
        if v == 0:
            t0 = t
        if v >= final_bytes and t1 is None:
            t1 = t
    if t0 is None and samples:
        t0 = samples[0][0]
    if t0 is None or t1 is None or t1 <= t0:
        return None
    return t1 - t0


# ------------------------------------------------------------------ disk probe

def disk_probe(directory, mib=256):
    """Raw sequential write + fdatasync bandwidth: 1 MiB writes, one fdatasync each."""
    path = os.path.join(directory, "disk-probe.bin")
    block = os.urandom(MiB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t0 = time.monotonic()
        for _ in range(mib):
            os.write(fd, block)
            os.fdatasync(fd)
        dt = time.monotonic() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return mib / dt


# ------------------------------------------------------------------ one case

def produce(bootstrap, topic, partitions, n):
    """Sends n values to partition i % partitions; returns (seconds, failures)."""
    p = producer(bootstrap, **{"linger.ms": 20, "batch.size": 1 << 20, "message.timeout.ms": 300000,
                               "queue.buffering.max.kbytes": 65536, "enable.idempotence": True})
    state = {"last": None, "ok": 0, "failed": []}

    def on_delivery(err, msg):
        state["last"] = time.monotonic()
        if err is None:
            state["ok"] += 1
        else:
            state["failed"].append(err)

    t0 = time.monotonic()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value_of(i), partition=i % partitions, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(600)
    if left:
        raise RuntimeError("%d records still undelivered after 600 s" % left)
    return state["last"] - t0, state["failed"]


def wait_settled(sampler, seg_bytes, timeout=300):
    """Until the upload counter has not moved for 3 s and the WAL holds at most
    the active segment (or timeout). Returns the last metrics."""
    deadline = time.monotonic() + timeout
    stable_since, last_up = None, None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        m = sampler.last()
        if not m:
            continue
        up = m.get("rustmq_object_uploads_total", 0.0)
        if up != last_up:
            last_up, stable_since = up, time.monotonic()
            continue
        if time.monotonic() - stable_since >= 3.0 and m.get("rustmq_wal_used_bytes", 0.0) <= seg_bytes:
            return m, True
    return sampler.last(), False


def cold_read(bootstrap, topic, partitions):
    """Reads every partition from offset 0 up to its high watermark. Returns
    (records, bytes, seconds, bad) where bad lists mismatches."""
    c = consumer(bootstrap, **{"fetch.max.bytes": 8 * MiB, "queued.max.messages.kbytes": 65536})
    hws = {}
    for q in range(partitions):
        hws[q] = c.get_watermark_offsets(TopicPartition(topic, q), timeout=30)[1]
    nrec = nbytes = 0
    bad = []
    nextoff = {q: 0 for q in range(partitions)}
    try:
        t0 = time.monotonic()
        c.assign([TopicPartition(topic, q, 0) for q in range(partitions)])
        pending = set(range(partitions))
        deadline = t0 + 600
        while pending and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(m.partition())
                        continue
                    raise KafkaException(m.error())
                q, off, v = m.partition(), m.offset(), m.value()
                if off != nextoff[q]:
                    bad.append("partition %d: offset %d where %d was expected" % (q, off, nextoff[q]))
                nextoff[q] = off + 1
                if v != value_of(q + off * partitions):
                    bad.append("partition %d offset %d: value differs" % (q, off))
                nrec += 1
                nbytes += len(v)
        dt = time.monotonic() - t0
        if pending:
            bad.append("timed out; partitions not at EOF: %s" % sorted(pending)[:10])
    finally:
        c.close()
    for q in range(partitions):
        if nextoff[q] != hws[q]:
            bad.append("partition %d: read up to %d, high watermark %d" % (q, nextoff[q], hws[q]))
    return nrec, nbytes, dt, sum(hws.values()), bad


def run_case(args, backend, partitions, base_dir):
    work = tempfile.mkdtemp(prefix="case-%s-%d-" % (backend, partitions), dir=base_dir)
    seg = args.segment_mib * MiB
    obj = {"storage_type": "local", "path": os.path.join(work, "objects")}
    if backend == "s3rver":
        _, s3port = start_s3rver(work)
        obj = {"storage_type": "s3", "endpoint": "http://127.0.0.1:%d" % s3port, "bucket": BUCKET,
               "region": "us-east-1", "access_key": "S3RVER", "secret_key": "bench", "path_style": True}
    cfg = {"wal": {"capacity_bytes": args.wal_mib * MiB, "segment_size_bytes": seg},
           "object_storage": obj, "log": {"level": "warn"}}
    b = conftest.Broker(os.path.join(work, "broker"), config=cfg, name="%s-%d" % (backend, partitions))
    CLEANUP.brokers.append(b)
    admin_port = int(b.config["admin"]["listen"].rsplit(":", 1)[1])
    b.start()
    sampler = Sampler(admin_port)
    sampler.start()
    try:
        topic = create_topic(b.bootstrap, unique("tier"), partitions)
        n = args.mib * MiB // VALUE
        record_bytes = n * VALUE
        ingest_s, failed = produce(b.bootstrap, topic, partitions, n)
        if failed:
            raise RuntimeError("producer gave up on %d records, first error %s" % (len(failed), failed[0]))
        m, settled = wait_settled(sampler, seg)
    finally:
        sampler.stop()
    samples = sampler.samples
    puts = m.get("rustmq_object_put_requests_total", 0.0)
    objects = m.get("rustmq_object_uploads_total", 0.0)
    up_bytes = m.get("rustmq_object_upload_bytes_total", 0.0)
    retries = m.get("rustmq_object_upload_retries_total", 0.0)
    wal_bytes = m.get("rustmq_wal_append_bytes_total", 0.0)
    up_s = upload_window(samples, up_bytes)
    r = {
        "backend": backend, "partitions": partitions, "settled": settled,
        "ingest_mibs": args.mib / ingest_s, "ingest_s": ingest_s,
        "puts_per_gib": puts / (record_bytes / GiB), "puts": puts, "objects": objects,
        "stored": up_bytes, "stored_per_record": up_bytes / record_bytes,
        "stored_per_wal": up_bytes / wal_bytes if wal_bytes else float("nan"),
        "retries": retries, "upload_mibs": (up_bytes / MiB / up_s) if up_s else float("nan"),
        "upload_s": up_s, "produced": n,
    }
    print("  %s x %d: ingest %.1f MiB/s (%.1f s); %s; PUTs %d (%.1f per GiB), objects %d, upload retries %d; "
          "stored %.1f MiB = %.3f x record bytes, %.3f x WAL append bytes; upload %.1f MiB/s (%.1f s)"
          % (backend, partitions, r["ingest_mibs"], ingest_s,
             "uploads settled" if settled else "uploads NOT settled within 300 s",
             puts, r["puts_per_gib"], objects, retries, up_bytes / MiB, r["stored_per_record"],
             r["stored_per_wal"], r["upload_mibs"], up_s or float("nan")), flush=True)

    # cold read: a broker restarted with an empty WAL serves what it uploaded
    b.stop()
    wal_dir = b.config["wal"]["path"]
    for e in os.listdir(wal_dir):
        pth = os.path.join(wal_dir, e)
        shutil.rmtree(pth) if os.path.isdir(pth) and not os.path.islink(pth) else os.unlink(pth)
    b.start()
    before = scrape(admin_port)
    nrec, nbytes, read_s, hw_total, bad = cold_read(b.bootstrap, topic, partitions)
    after = scrape(admin_port)

    def delta(k):
        return after.get(k, 0.0) - before.get(k, 0.0)
    r.update({
        "cold_records": nrec, "cold_mibs": nbytes / MiB / read_s if read_s else float("nan"),
        "cold_s": read_s, "bad": bad,
        "gets": delta("rustmq_object_get_requests_total"), "get_bytes": delta("rustmq_object_get_bytes_total"),
        "misses": delta("rustmq_cache_misses_total"),
        "misses_cold": delta('rustmq_cache_misses_total{cache="read_cold"}'),
        "misses_hot": delta('rustmq_cache_misses_total{cache="read_hot"}'),
    })
    print("  %s x %d: cold read (WAL wiped) %d of %d records (%.1f MiB, the unuploaded tail is gone with the WAL) "
          "in %.1f s = %.1f MiB/s; %s; GETs %d, GET bytes %.1f MiB, cache misses %d (read_cold %d, read_hot %d)"
          % (backend, partitions, nrec, n, nbytes / MiB, read_s, r["cold_mibs"],
             "all offsets and values match" if not bad else "MISMATCH: %s" % "; ".join(bad[:5]),
             r["gets"], r["get_bytes"] / MiB, r["misses"], r["misses_cold"], r["misses_hot"]), flush=True)
    b.close()
    CLEANUP.brokers.remove(b)
    for p in list(CLEANUP.procs):
        stop_proc(p)
        CLEANUP.procs.remove(p)
    shutil.rmtree(work, ignore_errors=True)
    return r


# ------------------------------------------------------------------ main

def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build", help="build directory holding rustmq-broker (default build)")
    ap.add_argument("--backend", choices=("local", "s3rver", "both"), default="both")
    ap.add_argument("--mib", type=int, default=512, help="MiB of record values to ingest per case")
    ap.add_argument("--partitions", default="1,1000", help="comma-separated partition counts")
    ap.add_argument("--wal-mib", type=int, default=64, help="wal.capacity_bytes in MiB")
    ap.add_argument("--segment-mib", type=int, default=16, help="wal.segment_size_bytes in MiB")
    ap.add_argument("--tmp-dir", default=None, help="where the temp dirs go (default: the system temp dir)")
    args = ap.parse_args()

    build = args.build_dir if os.path.isabs(args.build_dir) else os.path.join(ROOT, args.build_dir)
    conftest.BROKER_BIN = os.path.join(build, "rustmq-broker")
    if not os.access(conftest.BROKER_BIN, os.X_OK):
        sys.exit("no broker binary at %s (ninja -C %s rustmq-broker)" % (conftest.BROKER_BIN, build))
    backends = ["local", "s3rver"] if args.backend == "both" else [args.backend]
    parts = [int(x) for x in args.partitions.split(",") if x.strip()]
    signal.signal(signal.SIGTERM, _raise_interrupt)

    base = tempfile.mkdtemp(prefix="rmq-bench-tier-", dir=args.tmp_dir)
    CLEANUP.dirs.append(base)
    results = []
    t_start = time.monotonic()
    try:
        print("bench_tier: broker %s, %d MiB of %d KiB values per case, WAL %d MiB in %d MiB segments, "
              "fsync on, temp dir %s" % (conftest.BROKER_BIN, args.mib, VALUE // 1024, args.wal_mib,
                                         args.segment_mib, base), flush=True)
        disk = disk_probe(base)
        print("raw disk write+fdatasync (256 MiB, 1 MiB blocks, fdatasync each): %.1f MiB/s" % disk, flush=True)
        for be in backends:
            for p in parts:
                print("case %s x %d partitions" % (be, p), flush=True)
                results.append(run_case(args, be, p, base))
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        CLEANUP.run()
        sys.exit(130)
    finally:
        CLEANUP.run()
    total = time.monotonic() - t_start

    print()
    print("raw disk write+fdatasync in this run: %.1f MiB/s; total runtime %.0f s" % (disk, total))
    print()
    print("| backend | partitions | ingest MiB/s | upload MiB/s | PUTs/GiB | objects | stored/ingested "
          "| cold-read MiB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print("| %s | %d | %.1f | %.1f | %.1f | %d | %.3f | %.1f |"
              % (r["backend"], r["partitions"], r["ingest_mibs"], r["upload_mibs"], r["puts_per_gib"],
                 r["objects"], r["stored_per_record"], r["cold_mibs"]))
    if any(r["bad"] for r in results):
        print("\nrecords read back differ from those produced (see the case lines above)")
        sys.exit(1)


if __name__ == "__main__":
    main()

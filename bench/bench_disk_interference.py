#!/usr/bin/python3
"""bench_disk_interference.py - what background object writes on the same disk
cost a WAL's synced writes, without the broker.

Owns the figures quoted in bench/README.md ("Uploads on the same disk, and a
WAL that cannot reclaim"). A probe thread plays the WAL: every 1 ms one
300 KiB pwritev2(RWF_DSYNC) into a preallocated, already written 256 MiB file
(like a pooled segment), timing each write. A background thread plays the
uploader of the local object store at --rate bytes/s, in --chunk-kib O_DIRECT
writes (default 256, objstore_local's DIO_CHUNK; 1024 was the broker's before
"Smaller O_DIRECT writes for objects" in bench/README.md). Each mode is one way of laying out the objects:

  none     no background writes: the disk's own floor for the probe
  broker   what objstore_local does: a new file per 128 MiB object (O_EXCL
           name), fsync, rename to its key, fsync of the directory
  newfile  a new file per 32 MiB object, no fsync
  reuse    4 files of 32 MiB rewritten in place (blocks already allocated)
  trunc    4 files reopened with O_TRUNC (their blocks freed each time; on a
           filesystem mounted with `discard` that is a discard per object)
  coord    as trunc, but a chunk is written only while the probe is not in
           a synced write (foreground-first coordination)

Prints one line per mode: probe p50/p90/p99/p99.9 in ms, with the `none` row as
the physical limit beside the others. Runs in --dir (default /tmp; use the
broker's data disk) and deletes its files at the end.

Usage: /usr/bin/python3 bench/bench_disk_interference.py [--dir DIR]
           [--seconds 6] [--rate 330e6] [--chunk-kib 256]
           [--modes none,broker,newfile,reuse,trunc,coord]
"""
import argparse
import mmap
import os
import shutil
import tempfile
import threading
import time

CHUNK = 256 << 10  # --chunk-kib
PROBE = 300 << 10
SEG = 256 << 20


def background(mode, d, rate, stop, idle):
    buf = mmap.mmap(-1, CHUNK)  # page-aligned, as O_DIRECT needs
    buf.write(os.urandom(CHUNK))
    obj_size = (128 if mode == "broker" else 32) << 20
    t0 = time.perf_counter()
    sent = 0
    n = 0
    while not stop.is_set():
        name = os.path.join(d, "obj%d" % (n if mode in ("broker", "newfile") else n % 4))
        flags = os.O_WRONLY | os.O_CREAT | os.O_DIRECT
        if mode in ("trunc", "coord"):
            flags |= os.O_TRUNC
        fd = os.open(name, flags, 0o644)
        for off in range(0, obj_size, CHUNK):
            if stop.is_set():
                break
            wait = t0 + sent / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if mode == "coord":
                idle.wait(0.005)
            os.pwritev(fd, [buf], off)
            sent += CHUNK
        if mode in ("broker", "trunc", "coord"):
            os.fsync(fd)
        os.close(fd)
        if mode == "broker":
            os.rename(name, os.path.join(d, "final%d" % n))
            dfd = os.open(d, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
        n += 1


def run(mode, base, seconds, rate):
    d = tempfile.mkdtemp(prefix="rmq-disk-", dir=base)
    try:
        wal = os.open(os.path.join(d, "wal"), os.O_RDWR | os.O_CREAT, 0o644)
        os.posix_fallocate(wal, 0, SEG)
        zero = b"\0" * (1 << 20)
        for off in range(0, SEG, 1 << 20):
            os.pwrite(wal, zero, off)
        os.fsync(wal)
        payload = os.urandom(PROBE)
        stop, idle = threading.Event(), threading.Event()
        idle.set()
        th = None
        if mode != "none":
            th = threading.Thread(target=background, args=(mode, d, rate, stop, idle))
            th.start()
        lat = []
        off = 0
        nxt = time.perf_counter()
        end = nxt + seconds
        while time.perf_counter() < end:
            wait = nxt - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            nxt += 0.001
            idle.clear()
            t = time.perf_counter()
            os.pwritev(wal, [payload], off, os.RWF_DSYNC)
            lat.append(time.perf_counter() - t)
            idle.set()
            off = (off + PROBE) % (SEG - PROBE)
        stop.set()
        if th:
            th.join()
        os.close(wal)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    lat.sort()
    return [lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 for p in (0.5, 0.9, 0.99, 0.999)], len(lat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rate", type=float, default=330e6, help="background bytes/s")
    ap.add_argument("--chunk-kib", type=int, default=256, help="background write size, KiB (multiple of 4)")
    ap.add_argument("--modes", default="none,broker,newfile,reuse,trunc,coord")
    a = ap.parse_args()
    if a.chunk_kib <= 0 or a.chunk_kib % 4:
        ap.error("--chunk-kib must be a positive multiple of 4")
    global CHUNK
    CHUNK = a.chunk_kib << 10
    print("probe: %d KiB RWF_DSYNC every 1 ms; background: %.0f MB/s of %d KiB O_DIRECT writes; dir %s"
          % (PROBE >> 10, a.rate / 1e6, CHUNK >> 10, a.dir))
    floor = None
    for mode in a.modes.split(","):
        q, n = run(mode, a.dir, a.seconds, a.rate)
        if mode == "none":
            floor = q
        extra = "" if floor is None or mode == "none" else "   (floor p99 %.3f)" % floor[2]
        print("%-8s n=%-5d p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f ms%s" % (mode, n, q[0], q[1], q[2], q[3], extra))


if __name__ == "__main__":
    main()

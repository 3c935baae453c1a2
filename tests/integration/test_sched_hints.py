"""Scheduling hints of the produce path's threads (common/sched.h): the broker's
network threads (rmq-io-N) and WAL writer (rmq-wal) ask for a short CPU time
slice, 100 us by default (`broker.latency_thread_slice_us`), and take
`broker.latency_thread_nice` when it is set; the other threads keep the
kernel's defaults. Read back from the running broker's threads with
sched_getattr and getpriority."""
import ctypes
import os
import struct

import pytest

from helpers import create_topic

_SCHED_GETATTR = {"x86_64": 315, "aarch64": 275}.get(os.uname().machine)
_libc = ctypes.CDLL(None, use_errno=True)
HOT = ("rmq-wal",)


def _slice_ns(tid):
    """sched_runtime as sched_getattr reports it (the slice, Linux 6.12+)."""
    buf = ctypes.create_string_buffer(56)
    if _libc.syscall(_SCHED_GETATTR, tid, buf, 56, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    _size, policy, _flags, _nice, _prio, runtime = struct.unpack("IIQiIQ", buf.raw[:32])
    return runtime


def _threads(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            out[int(tid)] = f.read().strip()
    return out


def _hot(comm):
    return comm in HOT or comm.startswith("rmq-io-")


def _kernel_has_slices():
    if _SCHED_GETATTR is None:
        return False
    try:
        return _slice_ns(0) != 0
    except OSError:  # sched_getattr refused (a seccomp policy): nothing to read back
        return False


pytestmark = pytest.mark.skipif(not _kernel_has_slices(),
                                reason="kernel reports no time slice (custom slices need Linux 6.12+)")


def _started(broker_factory, config=None):
    b = broker_factory(config=config)
    # the threads apply their hints as they start; a produce makes sure the
    # WAL writer and an I/O thread have run
    create_topic(b.bootstrap, "sched-hints", 1)
    return b


def test_default_short_slice_on_hot_threads_only(broker_factory):
    b = _started(broker_factory)
    threads = _threads(b.proc.pid)
    hot = {t: c for t, c in threads.items() if _hot(c)}
    assert "rmq-wal" in hot.values()
    assert sum(c.startswith("rmq-io-") for c in hot.values()) == 2  # network.io_threads default
    for tid, comm in hot.items():
        assert _slice_ns(tid) == 100000, comm
    others = [t for t, c in threads.items() if not _hot(c)]
    assert others
    for tid in others:
        assert _slice_ns(tid) != 100000, threads[tid]


def test_slice_off_and_other_values(broker_factory):
    b = _started(broker_factory, {"broker": {"latency_thread_slice_us": 0}})
    default = _slice_ns(0)
    for tid, comm in _threads(b.proc.pid).items():
        assert _slice_ns(tid) == default, comm
    b2 = _started(broker_factory, {"broker": {"latency_thread_slice_us": 250}})
    for tid, comm in _threads(b2.proc.pid).items():
        if _hot(comm):
            assert _slice_ns(tid) == 250000, comm


def test_nice(broker_factory):
    b = _started(broker_factory, {"broker": {"latency_thread_nice": -5}})
    threads = _threads(b.proc.pid)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    permitted = os.geteuid() == 0
    for tid, comm in threads.items():
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        if _hot(comm):
            assert nice == (-5 if permitted else base), comm
            assert _slice_ns(tid) == 100000, comm  # the slice applies either way
        elif comm != "rmq-upload":  # uploads run at nice 10
            assert nice == base, comm
    log = b.log_text(run_only=True)
    if permitted:
        assert "cannot raise the thread's priority" not in log
    else:
        assert log.count("cannot raise the thread's priority") == 1

"""The rustmq-broker command line and startup failures: --help, --version,
bad arguments and bad configs exit non-zero with a message naming the problem,
a busy port stops startup, and the ready line names the listener."""
import re
import socket
import subprocess
import time

from conftest import BROKER_BIN, Broker


def run(args, timeout=30):
    return subprocess.run([BROKER_BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_version_and_help():
    r = run(["--version"])
    assert r.returncode == 0
    assert re.match(rb"rustmq-broker \d+\.\d+\.\d+", r.stdout), r.stdout
    r = run(["--help"])
    assert r.returncode == 0
    assert b"--config" in r.stdout and b"SIGTERM" in r.stdout


def test_unknown_argument():
    r = run(["--no-such-flag"])
    assert r.returncode != 0
    assert b"--no-such-flag" in r.stderr
    r = run(["--config"])
    assert r.returncode == 2 and b"--config needs a FILE" in r.stderr, r.stderr


def test_config_is_a_directory(tmp_path):
    r = run(["--config", str(tmp_path)])
    assert r.returncode == 2 and b"Is a directory" in r.stderr, r.stderr


def test_bad_config(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[network]\nlisten = "127.0.0.1:1"\nno_such_key = 3\n')
    r = run(["--config", str(cfg)])
    assert r.returncode != 0
    assert b"no_such_key" in r.stderr and b":3" in r.stderr, r.stderr
    cfg.write_text('[topics]\nauto_create = "maybe"\n')
    r = run(["--config", str(cfg)])
    assert r.returncode != 0 and b"auto_create" in r.stderr, r.stderr
    r = run(["--config", str(tmp_path / "missing.toml")])
    assert r.returncode != 0 and b"missing.toml" in r.stderr, r.stderr


def test_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        b = Broker(tmp_path / "b", name="busy")
        b.config["network"]["listen"] = "127.0.0.1:%d" % port
        b.write_config()
        r = run(["--config", b.config_path], timeout=60)
        assert r.returncode != 0, "broker started on a port that is in use"
        assert str(port).encode() in r.stderr, r.stderr[-2000:]


def test_ready_line(broker):
    # the fixture returns once the port accepts; the line follows within ms
    deadline = time.monotonic() + 10
    line = None
    while line is None and time.monotonic() < deadline:
        line = next((l for l in broker.log_text().splitlines() if 'msg="ready"' in l), None)
        if line is None:
            time.sleep(0.05)
    assert line is not None, broker.log_tail()
    assert "listeners=" in line and ("127.0.0.1:%d" % broker.port) in line
    assert broker.stop() == 0
    assert 'msg="stopped"' in broker.log_text()


def test_data_dir_in_use(broker, tmp_path):
    """A second broker on a running broker's data directory (own ports) must
    refuse to start, naming the directory and the holder's pid: two writers
    corrupt the Raft log and the WAL. The first keeps serving, and after it
    stops the directory is free again (the lock dies with its process)."""
    import copy as _copy
    from conftest import free_port
    from helpers import create_topic, unique
    second = Broker(tmp_path / "second", name="second")
    second.config["broker"]["data_dir"] = broker.data_dir
    second.config["wal"] = _copy.deepcopy(broker.config["wal"])
    second.config["network"]["listen"] = "127.0.0.1:%d" % free_port()
    second.write_config()
    r = run(["--config", second.config_path], timeout=60)
    assert r.returncode != 0, "a second broker started on a data directory in use"
    assert b"in use by another process" in r.stderr + r.stdout, (r.stderr + r.stdout)[-2000:]
    assert str(broker.proc.pid).encode() in r.stderr + r.stdout
    create_topic(broker.bootstrap, unique("still-serving"), 1)  # the first is untouched


def test_wal_dir_in_use(tmp_path):
    """wal.path outside data_dir is locked too: a second broker with its own
    data directory but the same WAL directory refuses to start."""
    shared_wal = str(tmp_path / "shared-wal")
    a = Broker(tmp_path / "a", name="wal-a")
    a.config["wal"]["path"] = shared_wal
    a.start()
    try:
        b = Broker(tmp_path / "b", name="wal-b")
        b.config["wal"]["path"] = shared_wal
        b.write_config()
        r = run(["--config", b.config_path], timeout=60)
        assert r.returncode != 0, "a second broker started on a WAL directory in use"
        assert b"in use by another process" in r.stderr + r.stdout and shared_wal.encode() in r.stderr + r.stdout
    finally:
        a.stop()


def test_default_wal_dir_is_locked_too(broker, tmp_path):
    """The default WAL directory (below data_dir) has its own lock: a second
    broker with another data_dir whose wal.path names it refuses to start."""
    b = Broker(tmp_path / "other", name="other-data")
    b.config["wal"]["path"] = broker.config["wal"]["path"]
    b.write_config()
    r = run(["--config", b.config_path], timeout=60)
    assert r.returncode != 0, "a second broker started on a WAL directory in use"
    assert b"in use by another process" in r.stderr + r.stdout


def test_wal_path_spelled_as_data_dir(tmp_path):
    """wal.path naming data_dir itself (another spelling) is one directory:
    the broker must not trip over its own lock."""
    b = Broker(tmp_path / "same", name="same-dir")
    b.config["wal"]["path"] = b.data_dir + "/."
    b.start()
    b.stop()


def test_data_dir_free_after_kill9(tmp_path):
    b = Broker(tmp_path / "k", name="k9")
    b.start()
    b.stop(sig=9)
    b.start()  # the flock died with the process: no stale lock
    b.stop()

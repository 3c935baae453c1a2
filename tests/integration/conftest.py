"""Fixtures for the integration suites: real rustmq-broker processes on 127.0.0.1.

Owns: locating the broker binary (RMQ_BUILD_DIR), the Broker process wrapper
(config file, start/stop/kill -9/restart, log access), the function- and
module-scoped fixtures built on it, and the failure hook that appends the tail
of every broker log used by a failed test to its report.

Every process started here is tracked in _LIVE and killed at fixture teardown
and, as a last resort, at interpreter exit: a failed or interrupted run never
leaves a broker behind.
"""
import atexit
import copy
import json
import os
import signal
import socket
import subprocess
import time

import pytest

BUILD_DIR = os.environ.get("RMQ_BUILD_DIR", "/work/main/build")
BROKER_BIN = os.path.join(BUILD_DIR, "rustmq-broker")

MiB = 1024 * 1024
READY_TIMEOUT_S = 60.0     # bounded wait for startup (recovery included)
STOP_TIMEOUT_S = 60.0      # bounded wait for a graceful stop

_LIVE = set()              # Popen objects not yet reaped


def _kill_all_live():
    for p in list(_LIVE):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass
        _LIVE.discard(p)


atexit.register(_kill_all_live)


_HANDED_OUT = set()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago and that this test
    run has not handed out before: the kernel may give a just-released port
    again, and two calls for one cluster then returned the same port."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is a JSON string for our inputs
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError("cannot write %r as TOML" % (v,))


def to_toml(cfg):
    """Dict of section -> {key: value} to TOML text (one level of tables)."""
    out = []
    for section, kv in cfg.items():
        out.append("[%s]" % section)
        for k, v in kv.items():
            if v is None:
                continue
            out.append("%s = %s" % (k, _toml_value(v)))
        out.append("")
    return "\n".join(out)


def _merge(base, over):
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


class Broker:
    """One rustmq-broker process with its own config, data dir and log file.

    The port is chosen once and kept across restarts, so clients can keep
    their bootstrap address. The log file accumulates every run; log_text()
    returns all of it, log_text(run_only=True) only the current run."""

    def __init__(self, workdir, config=None, name="broker"):
        self.workdir = str(workdir)
        self.name = name
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        self.data_dir = os.path.join(self.workdir, "data")
        self.config = _merge(self.default_config(), copy.deepcopy(config or {}))
        self.config_path = os.path.join(self.workdir, "broker.toml")
        self.log_path = os.path.join(self.workdir, "broker.log")
        self.proc = None
        self.runs = 0
        self.last_exit = None
        self._run_log_start = 0
        self.write_config()

    def default_config(self):
        return {
            "broker": {"id": 1, "data_dir": self.data_dir},
            # every listener on its own free port: several brokers run at once
            "network": {"listen": "127.0.0.1:%d" % self.port,
                        "rpc_listen": "127.0.0.1:%d" % free_port()},
            "admin": {"listen": "127.0.0.1:%d" % free_port()},
            "wal": {
                "path": os.path.join(self.data_dir, "wal"),
                "capacity_bytes": 256 * MiB,
                "segment_size_bytes": 16 * MiB,
                "fsync_on_write": True,
            },
            "topics": {"auto_create": True, "default_partitions": 1},
            "log": {"level": "info"},
        }

    # ---- configuration ----
    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(to_toml(self.config))

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    # ---- lifecycle ----
    def start(self, timeout=READY_TIMEOUT_S):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.write_config()
        with open(self.log_path, "ab") as lf:
            self._run_log_start = lf.tell()
            lf.write(("--- itest: start run %d of %s ---\n" % (self.runs + 1, self.name)).encode())
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [BROKER_BIN, "--config", self.config_path],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                env=self._env(),
            )
        finally:
            logf.close()
        _LIVE.add(self.proc)
        self.runs += 1
        self._wait_ready(timeout)
        return self

    @staticmethod
    def _env():
        # RUSTMQ_<SECTION>__<KEY> variables of the caller would override the
        # test config; only the log level is passed through
        return {k: v for k, v in os.environ.items()
                if not k.startswith("RUSTMQ_") or k == "RUSTMQ_LOG_LEVEL"}

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                _LIVE.discard(self.proc)
                raise RuntimeError("%s exited with %d during startup; log tail:\n%s"
                                   % (self.name, rc, self.log_tail()))
            text = self.log_text(run_only=True)
            if 'msg="ready"' in text:
                return
            # without the ready line (a log level above info), every listener
            # must answer: the Kafka port opens before the admin API's
            if self.accepts() and self._admin_accepts():
                return
            time.sleep(0.05)
        tail = self.log_tail()
        self.kill9()
        raise RuntimeError("%s not ready after %.0fs; log tail:\n%s" % (self.name, timeout, tail))

    def _admin_accepts(self):
        listen = self.config.get("admin", {}).get("listen")
        if not listen:
            return True
        host, port = listen.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return True
        except OSError:
            return False

    def accepts(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def send_signal(self, sig):
        if self.running:
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Send sig and wait for exit; returns the exit code (negative = signal).
        If the broker does not exit within timeout it is killed and an
        AssertionError is raised: a graceful stop must end."""
        if self.proc is None:
            return self.last_exit
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                _LIVE.discard(self.proc)
                self.last_exit = self.proc.returncode
                raise AssertionError("%s did not exit within %.0fs of signal %d"
                                     % (self.name, timeout, sig))
        _LIVE.discard(self.proc)
        self.last_exit = self.proc.returncode
        return self.last_exit

    def kill9(self):
        if self.proc is None:
            return self.last_exit
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        _LIVE.discard(self.proc)
        self.last_exit = self.proc.returncode
        return self.last_exit

    def restart(self, sig=signal.SIGTERM, timeout=READY_TIMEOUT_S):
        if self.running:
            self.stop(sig)
        return self.start(timeout=timeout)

    def close(self):
        """Teardown: make sure the process is gone (graceful first, then -9).
        Returns the exit status of the stop done here, or None if the broker
        was not running; "timeout" if it ignored SIGTERM."""
        status = None
        if self.running:
            try:
                status = self.stop(signal.SIGTERM, timeout=30)
            except AssertionError:
                status = "timeout"
        self.kill9()
        return status

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "WARNING: ThreadSanitizer")

    def sanitizer_reports(self):
        """Lines of ASan/LSan/UBSan/TSan reports in the log (a sanitizer
        build of the broker writes them to stderr)."""
        lines = self.log_text().splitlines()
        for i, l in enumerate(lines):
            if any(m in l for m in self.SANITIZER_MARKS):
                return "\n".join(lines[i:i + 40])
        return None

    # ---- logs ----
    def log_text(self, run_only=False):
        try:
            with open(self.log_path, "rb") as f:
                if run_only:
                    f.seek(self._run_log_start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, predicate, timeout=10.0):
        """Bounded wait until predicate(line) holds for some log line; returns
        the line or None."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                if predicate(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def __repr__(self):
        return "<Broker %s port=%d pid=%s>" % (self.name, self.port, self.pid)


class BrokerFactory:
    """Creates brokers with per-test config overrides; closes all of them."""

    def __init__(self, base_dir):
        self.base_dir = str(base_dir)
        self.brokers = []

    def __call__(self, config=None, start=True, name=None):
        name = name or "broker%d" % len(self.brokers)
        b = Broker(os.path.join(self.base_dir, name), config=config, name=name)
        self.brokers.append(b)
        if start:
            b.start()
        return b

    def close(self):
        statuses = [(b, b.close()) for b in self.brokers]
        for b, st in statuses:
            _check_teardown(b, st)


def _check_teardown(b, status):
    """A broker still running at teardown must stop cleanly on SIGTERM, and
    no run may have produced a sanitizer report."""
    rep = b.sanitizer_reports()
    if rep:
        pytest.fail("%s: sanitizer report in %s:\n%s" % (b.name, b.log_path, rep), pytrace=False)
    if status not in (None, 0):
        pytest.fail("%s: exit status %s after SIGTERM at teardown; log tail:\n%s"
                    % (b.name, status, b.log_tail(40)), pytrace=False)


# ---------------------------------------------------------------- pytest glue

def pytest_sessionstart(session):
    if not os.access(BROKER_BIN, os.X_OK):
        pytest.exit("broker binary not found or not executable: %s "
                    "(build it, or point RMQ_BUILD_DIR at a build directory)" % BROKER_BIN,
                    returncode=2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when not in ("setup", "call") or not rep.failed:
        return
    brokers = []
    for v in getattr(item, "funcargs", {}).values():
        if isinstance(v, Broker):
            brokers.append(v)
        elif isinstance(v, BrokerFactory):
            brokers.extend(v.brokers)
    for b in brokers:
        rep.sections.append(("%s log tail (%s)" % (b.name, b.log_path), b.log_tail(80)))


@pytest.fixture
def broker(tmp_path):
    """A fresh broker with the default test config, per test."""
    b = Broker(tmp_path / "broker", name="broker")
    try:
        b.start()
        yield b
    finally:
        status = b.close()
    _check_teardown(b, status)


@pytest.fixture
def broker_factory(tmp_path):
    """make(config={...}) -> started Broker; everything closed at teardown."""
    f = BrokerFactory(tmp_path)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory, request):
    """One broker shared by the tests of a module. A module may define
    BROKER_CONFIG (dict of overrides) to configure it."""
    cfg = getattr(request.module, "BROKER_CONFIG", None)
    name = request.module.__name__.rsplit(".", 1)[-1]
    b = Broker(tmp_path_factory.mktemp(name), config=cfg, name="module-broker")
    try:
        b.start()
        yield b
    finally:
        status = b.close()
    _check_teardown(b, status)

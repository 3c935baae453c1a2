"""Admin API target for the admin integration suites (test_admin_api.py,
test_admin_cli.py).

Owns: locating rustmq-admin, and AdminTarget: the REST API of a running
broker. If the broker itself serves the admin API (its [admin] listen answers
/health with our JSON), that is used; otherwise `rustmq-admin serve-api` is
started against the broker's Kafka port (same API code on the Kafka backend)
and stopped at teardown. Every wait is bounded.
"""
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from conftest import BUILD_DIR, free_port

ADMIN_BIN = os.path.join(BUILD_DIR, "rustmq-admin")


def http(method, url, body=None, timeout=30):
    """(status, headers dict (lower-case names), body bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class AdminTarget:
    def __init__(self, broker, workdir):
        self.broker = broker
        self.proc = None
        self.log_path = os.path.join(str(workdir), "serve-api.log")
        listen = broker.config.get("admin", {}).get("listen")
        if listen and self._is_ours("http://" + listen):
            self.url = "http://" + listen
            self.mode = "broker"
            return
        port = free_port()
        self.url = "http://127.0.0.1:%d" % port
        self.mode = "serve-api"
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [ADMIN_BIN, "serve-api", str(port), "--bootstrap", broker.bootstrap],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("serve-api exited with %d: %s" % (self.proc.returncode, self.log()))
            if self._is_ours(self.url):
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError("serve-api did not answer /health: " + self.log())

    @staticmethod
    def _is_ours(url):
        try:
            st, _, body = http("GET", url + "/health", timeout=2)
            return st in (200, 503) and "status" in json.loads(body)
        except Exception:
            return False

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except FileNotFoundError:
            return ""

    def get(self, path, **kw):  # kw: timeout, retry_429
        return self.req("GET", path, **kw)

    def req(self, method, path, body=None, timeout=30, retry_429=True):
        """One request. Like a well-behaved client, a 429 is retried after the
        server's Retry-After (bounded to `timeout` in all), so suites sharing
        one broker do not fail on each other's request rate; the rate-limit
        tests pass retry_429=False to see the 429 itself."""
        deadline = time.monotonic() + timeout
        while True:
            st, hdr, raw = http(method, self.url + path, body, timeout)
            if st != 429 or not retry_429:
                break
            wait = max(0.05, float(hdr.get("retry-after", "1")))
            if time.monotonic() + wait > deadline:
                break
            time.sleep(wait)
        doc = None
        if raw[:1] in (b"{", b"["):
            doc = json.loads(raw)
        return st, hdr, doc if doc is not None else raw

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("serve-api ignored SIGTERM")
            assert rc == 0, "serve-api exited with %d: %s" % (rc, self.log())
        if self.proc:
            self.logf.close()
            assert "runtime error:" not in self.log() and "AddressSanitizer" not in self.log(), self.log()


def run_cli(args, timeout=60, env=None):
    e = dict(os.environ)
    e.pop("RUSTMQ_BOOTSTRAP", None)
    e.pop("RUSTMQ_ADMIN_URL", None)
    if env:
        e.update(env)
    return subprocess.run([ADMIN_BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout, env=e)

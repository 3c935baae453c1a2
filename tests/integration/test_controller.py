"""rustmq-controller quorum: real processes on 127.0.0.1.

Three controllers (Raft over libraft/libuv) are started from generated
configs; the tests drive them with `rustmq-controller ctl` (the controller
RPC client) and check: leader failover after kill -9 with the election time
measured and printed, metadata intact and topic creation working after it,
a SIGSTOPped follower not blocking the quorum and catching up after
SIGCONT, a full restart restoring the state from snapshot + log, runtime
voter add/remove, the REST admin API and /metrics on http_listen, and clear
exit codes for bad configurations.

Reuses conftest's free_port, to_toml and process bookkeeping (_LIVE); the
binary is RMQ_BUILD_DIR/rustmq-controller.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BUILD_DIR, _LIVE, free_port, to_toml

CTL_BIN = os.path.join(BUILD_DIR, "rustmq-controller")

pytestmark = pytest.mark.skipif(not os.access(CTL_BIN, os.X_OK), reason="rustmq-controller not built")


class Controller:
    def __init__(self, workdir, node_id, raft_port, rpc_port, peers, extra=None, args=()):
        self.node_id = node_id
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.raft = "127.0.0.1:%d" % raft_port
        self.rpc = "127.0.0.1:%d" % rpc_port
        self.data_dir = os.path.join(self.workdir, "data")
        self.config = {
            "controller": {
                "node_id": node_id,
                "raft_listen": self.raft,
                "rpc_listen": self.rpc,
                "http_listen": "127.0.0.1:%d" % free_port(),
                "peers": peers,
                "data_dir": self.data_dir,
            },
            "log": {"level": "info"},
        }
        for k, v in (extra or {}).items():
            self.config["controller"][k] = v
        self.args = list(args)
        self.config_path = os.path.join(self.workdir, "controller.toml")
        self.log_path = os.path.join(self.workdir, "controller.log")
        self.proc = None

    def start(self, wait_ready=True):
        with open(self.config_path, "w") as f:
            f.write(to_toml(self.config))
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([CTL_BIN, "--config", self.config_path] + self.args,
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         env={k: v for k, v in os.environ.items()
                                              if not k.startswith("RUSTMQ_")})
        finally:
            logf.close()
        _LIVE.add(self.proc)
        if wait_ready:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("controller %d exited %d:\n%s" % (self.node_id, self.proc.returncode,
                                                                        self.log_tail()))
                if 'msg="ready"' in self.log_text():
                    return self
                time.sleep(0.05)
            raise RuntimeError("controller %d not ready" % self.node_id)
        return self

    def wait_exit(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        _LIVE.discard(self.proc)
        return rc

    def kill9(self):
        self.proc.kill()
        self.wait_exit()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit(30)
            assert rc == 0, "controller %d exited %d on SIGTERM:\n%s" % (self.node_id, rc, self.log_tail())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


def ctl(endpoints, *args, timeout_ms=15000, check=True):
    cmd = [CTL_BIN, "ctl", "--endpoints", ",".join(endpoints), "--timeout-ms", str(timeout_ms)] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_ms / 1000 + 30)
    if check and p.returncode != 0:
        raise AssertionError("ctl %s failed (%d): %s %s" % (args, p.returncode, p.stdout, p.stderr))
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()], p.returncode


def describe(endpoints):
    out, _ = ctl(endpoints, "describe", timeout_ms=1000, check=False)
    return out


def wait_leader(endpoints, timeout=15, exclude=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in describe(endpoints):
            if d.get("role") == "leader" and d.get("leader_ready") and d.get("node_id") != exclude:
                return d
        time.sleep(0.02)
    raise AssertionError("no leader among %s within %ss: %s" % (endpoints, timeout, describe(endpoints)))


def topics(endpoints):
    out, _ = ctl(endpoints, "topics")
    return {t["topic"]: t for t in out[1:]}


def wait_caught_up(endpoints, timeout=20):
    """Every endpoint answers and all have the same meta_index."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ds = describe(endpoints)
        idx = {d.get("meta_index") for d in ds}
        if all("error" not in d for d in ds) and len(idx) == 1:
            return ds
        time.sleep(0.05)
    raise AssertionError("not caught up: %s" % describe(endpoints))


@pytest.fixture
def quorum(tmp_path):
    ports = [(free_port(), free_port()) for _ in range(3)]
    peers = ["%d@127.0.0.1:%d" % (i + 1, p[0]) for i, p in enumerate(ports)]
    made = []

    def make(extra=None):
        cs = [Controller(tmp_path / ("c%d" % (i + 1)), i + 1, p[0], p[1], peers, extra) for i, p in enumerate(ports)]
        made.extend(cs)
        for c in cs:
            c.start()
        return cs

    yield make
    for c in made:
        if c.proc and c.proc.poll() is None:
            try:
                c.signal(signal.SIGCONT)
            except Exception:
                pass
            c.stop()


def eps(cs):
    return [c.rpc for c in cs]


def test_kill9_leader_failover(quorum):
    cs = quorum()
    E = eps(cs)
    leader = wait_leader(E)
    for i in range(5):
        out, _ = ctl(E, "create-topic", "before-%d" % i, 3)
        assert out[0]["error"] == "NONE", out
    victim = next(c for c in cs if c.node_id == leader["node_id"])
    survivors = [c for c in cs if c is not victim]
    t0 = time.monotonic()
    victim.kill9()
    new = wait_leader(eps(survivors), exclude=victim.node_id)
    elapsed = time.monotonic() - t0
    print("\nleader %d killed with SIGKILL; node %d elected in term %d after %.3f s"
          % (victim.node_id, new["node_id"], new["term"], elapsed))
    assert new["node_id"] != victim.node_id
    assert new["term"] > leader["term"]
    assert elapsed < 5.0, "election took %.2fs" % elapsed
    t = topics(eps(survivors))
    assert set("before-%d" % i for i in range(5)) <= set(t)
    out, _ = ctl(eps(survivors), "create-topic", "after-failover", 2)
    assert out[0]["error"] == "NONE", out
    # the old leader restarts as a follower and catches up from the log
    victim.start()
    ds = wait_caught_up(E)
    assert {d["topics"] for d in ds} == {6}
    assert len({d["cluster_id"] for d in ds}) == 1


def test_sigstop_follower_quorum_continues(quorum):
    cs = quorum()
    E = eps(cs)
    leader = wait_leader(E)
    follower = next(c for c in cs if c.node_id != leader["node_id"])
    follower.signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        for i in range(10):
            out, _ = ctl(E, "create-topic", "stopped-%d" % i, 1)
            assert out[0]["error"] == "NONE", out
        print("\n10 topics created with follower %d stopped in %.3f s" % (follower.node_id, time.monotonic() - t0))
    finally:
        follower.signal(signal.SIGCONT)
    ds = wait_caught_up(E)
    assert {d["topics"] for d in ds} == {10}


def test_restart_all_restores_from_snapshot_and_log(quorum):
    cs = quorum({"snapshot_threshold": 16})
    E = eps(cs)
    wait_leader(E)
    for i in range(40):
        out, _ = ctl(E, "create-topic", "r-%02d" % i, 2)
        assert out[0]["error"] == "NONE", out
    before = topics(E)
    assert len(before) == 40
    wait_caught_up(E)
    for c in cs:
        assert any(n.startswith("snapshot-") for n in os.listdir(os.path.join(c.data_dir, "raft"))), c.data_dir
    for c in cs:
        c.stop()
    for c in cs:
        c.start()
    wait_leader(E)
    after = topics(E)
    assert after == before
    ds = wait_caught_up(E)
    assert {d["topics"] for d in ds} == {40}


def test_add_and_remove_voter(quorum, tmp_path):
    cs = quorum()
    E = eps(cs)
    wait_leader(E)
    ctl(E, "create-topic", "m1", 1)
    raft4, rpc4 = free_port(), free_port()
    c4 = Controller(tmp_path / "c4", 4, raft4, rpc4, [], args=["--join"])
    c4.start()
    try:
        out, rc = ctl(E, "add-voter", 4, c4.raft)
        assert out[0]["error"] == "NONE", out
        E4 = E + [c4.rpc]
        ds = wait_caught_up(E4)
        assert all(sorted(d["voters"]) == [1, 2, 3, 4] for d in ds), ds
        out, _ = ctl(E4, "create-topic", "m2", 1)
        assert out[0]["error"] == "NONE"
        out, _ = ctl(E4, "remove-voter", 4)
        assert out[0]["error"] == "NONE", out
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ds = describe(E)
            if all(sorted(d.get("voters", [])) == [1, 2, 3] for d in ds):
                break
            time.sleep(0.05)
        assert all(sorted(d["voters"]) == [1, 2, 3] for d in ds), ds
    finally:
        c4.stop()


def http(method, url, body=None, timeout=15):
    """(status, parsed JSON or text) of one request; 429s are retried after Retry-After."""
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while True:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                st, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            st, raw = e.code, e.read()
            if st == 429 and time.monotonic() < deadline:
                time.sleep(float(e.headers.get("Retry-After", "1")))
                continue
        try:
            return st, json.loads(raw)
        except ValueError:
            return st, raw.decode()


def test_http_admin_api(quorum):
    """controller.http_listen serves the REST admin API and /metrics: the
    leader takes writes through Raft, a follower refuses them naming the
    leader and serves its applied state, health and metrics show the raft
    role, and rustmq-admin works against it with --api-url."""
    cs = quorum()
    E = eps(cs)
    leader = wait_leader(E)
    lc = next(c for c in cs if c.node_id == leader["node_id"])
    fc = next(c for c in cs if c is not lc)
    url = lambda c: "http://" + c.config["controller"]["http_listen"]
    st, h = http("GET", url(lc) + "/health")
    assert st == 200 and h["checks"]["raft_role"] == "leader", h
    assert h["checks"]["raft_servers"] == "3", h
    st, h = http("GET", url(fc) + "/health")
    assert st == 200 and h["checks"]["raft_role"] == "follower", h
    assert h["checks"]["raft_leader"] == str(lc.node_id)
    # writes: the leader proposes through Raft; a follower says who leads
    st, doc = http("POST", url(lc) + "/api/v1/topics", {"name": "via-http", "partitions": 4})
    assert st == 201, doc
    assert doc["partitions"] == 4 and len(doc["partition_details"]) == 4
    st, doc = http("POST", url(fc) + "/api/v1/topics", {"name": "via-follower", "partitions": 1})
    assert st == 503 and doc["error"] == "NOT_CONTROLLER", doc
    assert ("controller %d" % lc.node_id) in doc["message"], doc
    st, doc = http("POST", url(lc) + "/api/v1/topics", {"name": "via-http", "partitions": 1})
    assert st == 409, doc
    # the change is in the replicated state: ctl sees it, the follower serves it
    assert topics(E)["via-http"]["partitions"] == 4
    deadline = time.monotonic() + 10
    while True:
        st, doc = http("GET", url(fc) + "/api/v1/topics")
        if st == 200 and "via-http" in [t["name"] for t in doc["topics"]]:
            break
        assert time.monotonic() < deadline, doc
        time.sleep(0.1)
    st, doc = http("POST", url(lc) + "/api/v1/topics/via-http/partitions", {"count": 6})
    assert st in (200, 202), doc
    st, doc = http("GET", url(lc) + "/api/v1/topics/via-http")
    assert st == 200 and doc["partitions"] == 6, doc
    # groups live on the brokers (coordinators): not here
    st, doc = http("GET", url(lc) + "/api/v1/consumer-groups")
    assert st == 501 and doc["error"] == "UNSUPPORTED", doc
    # metrics: exactly one leader, same term everywhere
    roles = []
    for c in cs:
        st, text = http("GET", url(c) + "/metrics")
        assert st == 200
        line = [l for l in text.splitlines() if l.startswith('rustmq_controller_raft{field="is_leader"}')]
        roles.append(float(line[0].split()[1]))
        assert 'rustmq_controller_metadata{kind="topics"}' in text
    assert sorted(roles) == [0.0, 0.0, 1.0], roles
    # the admin CLI over the controller's REST API
    admin = os.path.join(BUILD_DIR, "rustmq-admin")
    if os.access(admin, os.X_OK):
        p = subprocess.run([admin, "--api-url", url(lc), "list-topics", "--json"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        assert "via-http" in p.stdout
        p = subprocess.run([admin, "--api-url", url(lc), "delete-topic", "via-http"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        deadline = time.monotonic() + 10
        while "via-http" in topics(E):
            assert time.monotonic() < deadline, "delete through the controller's API did not apply"
            time.sleep(0.1)


def test_bad_configs_exit_codes(tmp_path):
    p1, p2, p3 = free_port(), free_port(), free_port()
    peers = ["1@127.0.0.1:%d" % p1, "2@127.0.0.1:%d" % p2, "3@127.0.0.1:%d" % p3]
    # own id not in peers
    c = Controller(tmp_path / "a", 9, free_port(), free_port(), peers)
    c.start(wait_ready=False)
    assert c.wait_exit() == 2
    assert "peers" in c.log_text()  # the config loader or the peers check names it
    # duplicate ids
    c = Controller(tmp_path / "b", 1, p1, free_port(), peers + ["1@127.0.0.1:%d" % free_port()])
    c.start(wait_ready=False)
    assert c.wait_exit() == 2
    # unparseable address
    c = Controller(tmp_path / "c", 1, p1, free_port(), ["1@127.0.0.1:%d" % p1, "2@nohost"])
    c.start(wait_ready=False)
    assert c.wait_exit() == 2
    # no quorum within the startup timeout: exit 4 with a clear line
    c = Controller(tmp_path / "d", 1, p1, free_port(), peers, args=["--startup-timeout-ms", "1500"])
    c.start()
    assert c.wait_exit() == 4
    assert "no quorum within the startup timeout" in c.log_text()
    # the same data dir reused by a cluster with other peers: exit 3
    other = ["1@127.0.0.1:%d" % p1, "2@127.0.0.1:%d" % free_port(), "3@127.0.0.1:%d" % free_port()]
    c2 = Controller(tmp_path / "d", 1, p1, free_port(), other, args=["--startup-timeout-ms", "500"])
    c2.start(wait_ready=False)
    assert c2.wait_exit() == 3
    assert "another cluster" in c2.log_text()

"""The admin REST API against a real broker: every endpoint's success and
error paths, topic CRUD with pagination and the asynchronous delete, consumer
groups with real committed offsets and lag, JSON and Prometheus metrics
(checked with `promtool check metrics` on a scrape taken under produce
load), the SSE metrics stream, the OpenAPI document, and 429 with the
rate-limit headers once the cluster category is exhausted.

Target: the broker's own admin listener when it serves the API, otherwise
`rustmq-admin serve-api` in front of the broker (see admin_fixture.py)."""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from admin_fixture import AdminTarget
from helpers import consumer, produce_all, producer, unique

SRC_DIR = os.environ.get("RMQ_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def api(module_broker, tmp_path_factory):
    t = AdminTarget(module_broker, tmp_path_factory.mktemp("admin"))
    try:
        yield t
    finally:
        t.close()


def wait_op(api, op_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, _, doc = api.get("/api/v1/operations/" + op_id)
        assert st == 200, doc
        if doc["state"] in ("completed", "failed"):
            return doc
        time.sleep(0.05)
    raise AssertionError("operation %s did not finish" % op_id)


def test_probes(api):
    st, hdr, doc = api.get("/health")
    assert st == 200 and doc["status"] == "healthy" and doc["ok"] is True
    assert hdr["content-type"] == "application/json"
    st, _, doc = api.get("/ready")
    assert st == 200 and doc["ready"] is True


def test_cluster_and_brokers(api, module_broker):
    st, _, doc = api.get("/api/v1/cluster")
    assert st == 200
    assert doc["cluster_id"] and doc["controller_id"] >= 0
    ports = [b["port"] for b in doc["brokers"]]
    assert module_broker.port in ports
    st, _, h = api.get("/api/v1/cluster/health")
    assert st == 200 and h["healthy"] is True and h["status"] == "healthy"
    assert h["brokers_active"] == h["brokers_total"] == len(doc["brokers"])
    st, _, bl = api.get("/api/v1/brokers")
    assert st == 200 and bl["total_count"] == len(doc["brokers"])
    st, _, bl = api.get("/api/v1/brokers?status=active")
    assert st == 200 and bl["total_count"] >= 1
    st, _, bl = api.get("/api/v1/brokers?status=draining")
    assert st == 200 and bl["total_count"] == 0
    st, _, e = api.get("/api/v1/brokers?status=bogus")
    assert st == 400 and e["error"] == "INVALID_REQUEST"
    bid = doc["brokers"][0]["id"]
    st, _, b = api.get("/api/v1/brokers/%d" % bid)
    assert st == 200 and b["id"] == bid and b["is_controller"] == (bid == doc["controller_id"])
    st, _, e = api.get("/api/v1/brokers/9999")
    assert st == 404 and e["error"] == "BROKER_NOT_FOUND"
    st, _, e = api.get("/api/v1/brokers/x")
    assert st == 400


def test_topic_lifecycle(api, module_broker):
    name = unique("adm")
    st, hdr, doc = api.req("POST", "/api/v1/topics",
                           {"name": name, "partitions": 3, "replication_factor": 1,
                            "configs": {"retention.ms": "3600000"}})
    assert st == 201, doc
    assert hdr["location"] == "/api/v1/topics/" + name
    assert doc["name"] == name and doc["partitions"] == 3 and doc["replication_factor"] == 1
    st, _, e = api.req("POST", "/api/v1/topics", {"name": name, "partitions": 1})
    assert st == 409 and e["error"] == "TOPIC_ALREADY_EXISTS"
    st, _, e = api.req("POST", "/api/v1/topics", {"name": "bad/name", "partitions": 1})
    assert st == 400 and e["error"] == "INVALID_TOPIC_EXCEPTION", e
    st, _, e = api.req("POST", "/api/v1/topics", {"partitions": 1})
    assert st == 400 and e["error"] == "INVALID_REQUEST"

    # produce so the high watermarks move
    p = producer(module_broker.bootstrap)
    log = produce_all(p, name, [{"key": b"k%d" % i, "value": b"v%d" % i, "partition": i % 3} for i in range(30)])
    assert not log.failed, log.failed
    st, _, doc = api.get("/api/v1/topics/" + name)
    assert st == 200
    assert doc["configs"].get("retention.ms") == "3600000"
    parts = doc["partition_details"]
    assert [x["partition"] for x in parts] == [0, 1, 2]
    for x in parts:
        assert x["leader"] >= 0 and x["isr"] and x["replicas"]
        assert x["log_start_offset"] == 0
    assert sum(x["high_watermark"] for x in parts) == 30

    st, _, doc = api.req("PUT", "/api/v1/topics/" + name, {"configs": {"retention.ms": "7200000"}})
    assert st == 200, doc
    assert doc["configs"]["retention.ms"] == "7200000"
    st, _, e = api.req("PUT", "/api/v1/topics/" + name, {"configs": {}})
    assert st == 400
    st, _, e = api.req("PUT", "/api/v1/topics/" + unique("none"), {"configs": {"retention.ms": "1"}})
    assert st == 404, e

    st, _, doc = api.get("/api/v1/topics/%s/partitions" % name)
    assert st == 200 and doc["partition_count"] == 3 and len(doc["partitions"]) == 3
    st, _, doc = api.req("POST", "/api/v1/topics/%s/partitions" % name, {"count": 5})
    assert st == 200 and doc["partition_count"] == 5, doc
    st, _, doc = api.get("/api/v1/topics/" + name)
    assert doc["partitions"] == 5
    st, _, e = api.req("POST", "/api/v1/topics/%s/partitions" % name, {"count": 2})
    assert st == 400 and e["error"] == "INVALID_PARTITIONS", e

    st, hdr, op = api.req("DELETE", "/api/v1/topics/" + name)
    assert st == 202 and op["state"] in ("pending", "running", "completed")
    assert hdr["location"] == "/api/v1/operations/" + op["operation_id"]
    done = wait_op(api, op["operation_id"])
    assert done["state"] == "completed", done
    assert done["type"] == "delete_topic" and done["target"] == name
    st, _, e = api.get("/api/v1/topics/" + name)
    assert st == 404 and e["error"] == "UNKNOWN_TOPIC_OR_PARTITION"
    st, _, e = api.req("DELETE", "/api/v1/topics/" + name)
    assert st == 404
    st, _, ops = api.get("/api/v1/operations")
    assert any(o["id"] == op["operation_id"] for o in ops["operations"])
    st, _, e = api.get("/api/v1/operations/op-nope")
    assert st == 404


def test_topic_pagination(api):
    prefix = unique("pg")
    names = ["%s-%02d" % (prefix, i) for i in range(5)]
    for n in names:
        st, _, doc = api.req("POST", "/api/v1/topics", {"name": n, "partitions": 1})
        assert st == 201, doc
    st, _, doc = api.get("/api/v1/topics?limit=1000")
    assert doc["limit"] == 1000 and doc["page"] == 1
    all_names = [t["name"] for t in doc["topics"]]
    assert all_names == sorted(all_names)
    assert set(names) <= set(all_names)
    total = doc["total"]
    seen = []
    page = 1
    while True:
        st, _, doc = api.get("/api/v1/topics?page=%d&limit=2" % page)
        assert st == 200 and doc["limit"] == 2 and doc["total"] == total
        if not doc["topics"]:
            break
        assert len(doc["topics"]) <= 2
        seen += [t["name"] for t in doc["topics"]]
        page += 1
    assert seen == all_names
    st, _, doc = api.get("/api/v1/topics?limit=100000")
    assert doc["limit"] == 1000
    st, _, doc = api.get("/api/v1/topics")
    assert doc["limit"] == 100
    for bad in ("page=0", "limit=0", "limit=x"):
        st, _, e = api.get("/api/v1/topics?" + bad)
        assert st == 400, bad
    for n in names:
        st, _, op = api.req("DELETE", "/api/v1/topics/" + n)
        assert st == 202
        assert wait_op(api, op["operation_id"])["state"] == "completed"


def test_consumer_groups(api, module_broker):
    topic = unique("grp")
    group = unique("g")
    st, _, doc = api.req("POST", "/api/v1/topics", {"name": topic, "partitions": 2})
    assert st == 201
    p = producer(module_broker.bootstrap)
    for i in range(40):
        p.produce(topic, b"x%d" % i, partition=i % 2)
    assert p.flush(30) == 0
    c = consumer(module_broker.bootstrap, **{"group.id": group, "enable.auto.commit": False,
                                            "auto.offset.reset": "earliest", "enable.partition.eof": False})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < 25 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
            if got == 25:
                c.commit(message=m, asynchronous=False)
    assert got == 25
    try:
        st, _, gl = api.get("/api/v1/consumer-groups")
        assert st == 200, gl
        assert any(g["group_id"] == group for g in gl["groups"])
        st, _, g = api.get("/api/v1/consumer-groups/" + group)
        assert st == 200, g
        assert g["state"] in ("Stable", "CompletingRebalance", "PreparingRebalance")
        assert g["protocol_type"] == "consumer"
        assert len(g["members"]) == 1
        assigned = {(a["topic"], a["partition"]) for a in g["members"][0]["assignments"]}
        assert assigned == {(topic, 0), (topic, 1)}
        offs = {o["partition"]: o for o in g["offsets"] if o["topic"] == topic}
        assert offs and all(o["log_end_offset"] == 20 for o in offs.values())
        assert all(o["lag"] == o["log_end_offset"] - o["committed_offset"] for o in offs.values())
        st, _, e = api.req("DELETE", "/api/v1/consumer-groups/" + group)
        assert st == 409 and e["error"] == "NON_EMPTY_GROUP", e
    finally:
        c.close()
    deadline = time.monotonic() + 30
    while True:
        st, _, e = api.req("DELETE", "/api/v1/consumer-groups/" + group)
        if st == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert st == 200, e
    st, _, e = api.get("/api/v1/consumer-groups/" + group)
    assert st == 404 and e["error"] == "GROUP_ID_NOT_FOUND"
    st, _, e = api.req("DELETE", "/api/v1/consumer-groups/" + group)
    assert st == 404


def test_routing_errors(api):
    st, _, e = api.get("/api/v1/nothing")
    assert st == 404 and e["error"] == "NOT_FOUND" and e["message"]
    st, hdr, e = api.req("PATCH", "/api/v1/topics", {})
    assert st == 405 and "POST" in hdr["allow"]
    st, _, e = api.req("POST", "/api/v1/topics", None)
    assert st == 400


def test_openapi_matches_docs(api):
    st, _, doc = api.get("/api/v1/openapi.json")
    assert st == 200 and doc["openapi"].startswith("3.0")
    with open(os.path.join(SRC_DIR, "docs", "openapi.json")) as f:
        assert json.load(f) == doc


def test_metrics_json_and_sse(api):
    st, _, doc = api.get("/api/v1/metrics")
    assert st == 200
    names = {m["name"] for m in doc["metrics"]}
    assert "process_resident_memory_bytes" in names
    assert "rustmq_admin_http_requests_total" in names
    host, port = api.url[len("http://"):].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET /api/v1/metrics/stream?interval_ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    deadline = time.monotonic() + 10
    while buf.count(b"event: metrics\n") < 2 and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    assert b"200 OK" in buf.split(b"\r\n", 1)[0]
    assert b"text/event-stream" in buf
    assert buf.count(b"event: metrics\n") >= 2
    data = [l for l in buf.split(b"\n") if l.startswith(b"data: ")]
    assert "metrics" in json.loads(data[0][6:])


def test_prometheus_under_load(api, module_broker):
    st, hdr, text = api.get("/metrics")
    assert st == 200 and hdr["content-type"].startswith("text/plain; version=0.0.4")
    topic = unique("load")
    st, _, _ = api.req("POST", "/api/v1/topics", {"name": topic, "partitions": 2})
    assert st == 201
    stop = threading.Event()

    def load():
        p = producer(module_broker.bootstrap)
        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, b"x" * 100, partition=i % 2)
            except BufferError:
                p.poll(0.05)
                continue
            i += 1
            if i % 1000 == 0:
                p.poll(0)
        assert p.flush(60) == 0

    th = threading.Thread(target=load)
    th.start()
    try:
        scrapes = []
        for _ in range(5):
            st, _, text = api.get("/metrics")
            assert st == 200
            scrapes.append(text)
            time.sleep(0.1)
    finally:
        stop.set()
        th.join(60)
    text = scrapes[-1]
    assert b"# TYPE process_cpu_seconds_total counter" in text
    assert b"# TYPE rustmq_admin_http_request_duration_seconds histogram" in text
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (apt-get install prometheus); exposition not validated")
    r = subprocess.run([promtool, "check", "metrics"], input=text, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()


def test_rate_limit_cluster_category(api):
    # cluster: 5 rps, burst 10 (seed defaults); 30 quick requests must hit it.
    # Earlier tests on this broker may have drained the per-IP bucket (50 rps,
    # burst 100): let every bucket refill first so the cluster one is what trips.
    time.sleep(2.5)
    statuses = []
    last429 = None
    for _ in range(30):
        st, hdr, doc = api.get("/api/v1/cluster", retry_429=False)
        statuses.append(st)
        if st == 429:
            last429 = (hdr, doc)
    assert 200 in statuses and 429 in statuses, statuses
    hdr, doc = last429
    assert doc["error"] == "RATE_LIMITED"
    assert hdr["x-ratelimit-limit"] == "5"
    assert int(hdr["x-ratelimit-remaining"]) == 0
    assert int(hdr["retry-after"]) >= 1
    assert int(hdr["x-ratelimit-reset"]) >= 1
    # other categories still answer
    st, _, _ = api.get("/health", retry_429=False)
    assert st == 200
    st, _, _ = api.get("/api/v1/topics", retry_429=False)
    assert st == 200
    time.sleep(1.2)  # the bucket refills: 5 tokens/s
    st, _, _ = api.get("/api/v1/cluster", retry_429=False)
    assert st == 200


def test_rate_limits_from_config(broker_factory, tmp_path):
    """[admin] rate-limit keys from broker.toml reach the server: with
    write_rps = 1 the second quick topic creation is refused with 429 and the
    rate-limit headers, while health probes still answer."""
    b = broker_factory({"admin": {"write_rps": 1, "health_rps": 100}})
    t = AdminTarget(b, tmp_path)
    try:
        assert t.mode == "broker"
        statuses = []
        headers = None
        for i in range(4):
            st, hd, _ = t.req("POST", "/api/v1/topics", {"name": unique("rl"), "partitions": 1},
                              retry_429=False)
            statuses.append(st)
            if st == 429:
                headers = hd
        assert 429 in statuses, statuses
        assert statuses[0] in (200, 201), statuses
        for h in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"):
            assert h in headers, headers
        st, _, _ = t.get("/health", retry_429=False)
        assert st == 200
    finally:
        t.close()

"""rustmq-admin against a real broker: every command over both transports
(--bootstrap: Kafka protocol; --api-url: the REST API) in both output modes
(aligned table, --json), the --json documents equal across transports, and
the documented exit codes (0 ok, 1 refused by the cluster, 2 usage, 3 cannot
connect, 4 not found) with messages that say what to do."""
import json
import time

import pytest

from admin_fixture import AdminTarget, run_cli
from conftest import free_port
from helpers import consumer, producer, unique


@pytest.fixture(scope="module")
def target(module_broker, tmp_path_factory):
    t = AdminTarget(module_broker, tmp_path_factory.mktemp("admincli"))
    try:
        yield t
    finally:
        t.close()


@pytest.fixture(params=["bootstrap", "api-url"])
def cli(request, module_broker, target):
    if request.param == "bootstrap":
        conn = ["--bootstrap", module_broker.bootstrap]
    else:
        conn = ["--api-url", target.url]

    def run(*args, expect=0):
        r = run_cli(conn + list(args))
        assert r.returncode == expect, (args, r.returncode, r.stdout.decode(), r.stderr.decode())
        return r
    run.mode = request.param
    return run


def table(stdout):
    """Rows of an aligned table (header first), split on runs of 2+ spaces."""
    import re
    return [re.split(r"\s{2,}", l.strip()) for l in stdout.decode().splitlines() if l.strip()]


def test_help_version_usage():
    r = run_cli(["--help"])
    assert r.returncode == 0
    out = r.stdout.decode()
    for cmd in ("create-topic", "list-topics", "describe-topic", "delete-topic", "cluster-health",
                "list-groups", "describe-group", "serve-api", "Exit codes"):
        assert cmd in out
    r = run_cli(["--version"])
    assert r.returncode == 0 and r.stdout.startswith(b"rustmq-admin ")
    for args, needle in ((["frobnicate"], b"unknown command"), ([], b"usage:"),
                         (["create-topic", "t"], b"NAME PARTITIONS REPLICATION_FACTOR"),
                         (["create-topic", "t", "x", "1"], b"PARTITIONS"),
                         (["create-topic", "t", "1", "1", "--config", "novalue"], b"KEY=VALUE"),
                         (["list-topics", "--nope"], b"--nope"),
                         (["list-topics", "extra"], b"takes no arguments"),
                         (["describe-topic"], b"NAME"),
                         (["list-topics", "--bootstrap", "a:1", "--api-url", "http://b"], b"not both")):
        r = run_cli(args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr, (args, r.stderr)


def test_cannot_connect():
    port = free_port()
    r = run_cli(["--bootstrap", "127.0.0.1:%d" % port, "list-topics", "--timeout", "2000"])
    assert r.returncode == 3
    assert b"cannot connect" in r.stderr and b"hint:" in r.stderr
    r = run_cli(["--api-url", "http://127.0.0.1:%d" % port, "cluster-health", "--timeout", "2000"])
    assert r.returncode == 3
    assert b"cannot reach the admin API" in r.stderr
    # environment variables pick the transport
    r = run_cli(["list-topics", "--timeout", "2000"], env={"RUSTMQ_BOOTSTRAP": "127.0.0.1:%d" % port})
    assert r.returncode == 3 and (b"127.0.0.1:%d" % port) in r.stderr


def test_topic_commands(cli):
    name = unique("cli")
    r = cli("create-topic", name, "2", "1", "--config", "retention.ms=123456")
    assert name.encode() in r.stdout
    r = cli("create-topic", name, "2", "1", expect=1)
    assert b"TOPIC_ALREADY_EXISTS" in r.stderr and b"hint:" in r.stderr
    r = cli("list-topics")
    rows = table(r.stdout)
    assert rows[0] == ["TOPIC", "PARTITIONS", "REPLICATION_FACTOR"]
    assert [name, "2", "1"] in rows
    doc = json.loads(cli("list-topics", "--json").stdout)
    assert doc["total"] == len(doc["topics"])
    assert {"name": name, "partitions": 2, "replication_factor": 1, "internal": False} in doc["topics"]
    r = cli("describe-topic", name)
    out = r.stdout.decode()
    assert out.startswith("Topic: %s  Partitions: 2  Replication factor: 1" % name)
    assert "retention.ms=123456" in out
    rows = table(r.stdout)
    hdr = rows.index(["PARTITION", "LEADER", "REPLICAS", "ISR", "LOG_START", "HIGH_WATERMARK"])
    assert [x[0] for x in rows[hdr + 1:]] == ["0", "1"]
    d = json.loads(cli("describe-topic", name, "--json").stdout)
    assert d["name"] == name and len(d["partition_details"]) == 2
    assert d["configs"]["retention.ms"] == "123456"
    r = cli("describe-topic", unique("missing"), expect=4)
    assert b"does not exist" in r.stderr
    r = cli("delete-topic", name)
    assert b"Deleted topic" in r.stdout
    r = cli("delete-topic", name, expect=4)
    r = cli("describe-topic", name, expect=4)
    name2 = unique("cli")
    cli("create-topic", name2, "1", "1", "--json")
    d = json.loads(cli("delete-topic", name2, "--json").stdout)
    assert d["state"] == "completed" and d["target"] == name2


def test_json_same_over_both_transports(module_broker, target):
    name = unique("same")
    r = run_cli(["--bootstrap", module_broker.bootstrap, "create-topic", name, "3", "1"])
    assert r.returncode == 0, r.stderr
    a = json.loads(run_cli(["--bootstrap", module_broker.bootstrap, "describe-topic", name, "--json"]).stdout)
    b = json.loads(run_cli(["--api-url", target.url, "describe-topic", name, "--json"]).stdout)
    assert a == b
    r = run_cli(["--api-url", target.url, "delete-topic", name])
    assert r.returncode == 0


def test_cluster_health(cli, module_broker):
    r = cli("cluster-health")
    out = r.stdout.decode()
    assert "Status: healthy" in out and "Controller:" in out
    rows = table(r.stdout)
    hi = rows.index(["ID", "HOST", "PORT", "RACK", "STATUS"])
    assert any(row[2] == str(module_broker.port) and row[4] == "active" for row in rows[hi + 1:])
    d = json.loads(cli("cluster-health", "--json").stdout)
    assert d["healthy"] is True and d["brokers"] and d["controller_id"] >= 0


def test_group_commands(cli, module_broker):
    topic = unique("cg")
    group = unique("grp")
    cli("create-topic", topic, "1", "1")
    p = producer(module_broker.bootstrap)
    for i in range(10):
        p.produce(topic, b"m%d" % i, partition=0)
    assert p.flush(30) == 0
    c = consumer(module_broker.bootstrap, **{"group.id": group, "auto.offset.reset": "earliest",
                                            "enable.partition.eof": False})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < 4 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
            if got == 4:
                c.commit(message=m, asynchronous=False)
    c.close()
    assert got == 4
    rows = table(cli("list-groups").stdout)
    assert rows[0] == ["GROUP", "STATE", "PROTOCOL_TYPE"]
    assert any(r[0] == group for r in rows[1:])
    d = json.loads(cli("list-groups", "--json").stdout)
    assert any(g["group_id"] == group for g in d["groups"])
    r = cli("describe-group", group)
    out = r.stdout.decode()
    assert out.startswith("Group: %s" % group) and "Total lag: 6" in out
    rows = table(r.stdout)
    oi = rows.index(["TOPIC", "PARTITION", "COMMITTED", "LOG_END", "LAG"])
    assert [topic, "0", "4", "10", "6"] in rows[oi + 1:]
    d = json.loads(cli("describe-group", group, "--json").stdout)
    assert d["total_lag"] == 6 and d["offsets"][0]["committed_offset"] == 4
    r = cli("describe-group", unique("nogroup"), expect=4)
    assert b"GROUP_ID_NOT_FOUND" in r.stderr
    cli("delete-topic", topic)


def test_serve_api_usage_and_port_in_use(module_broker, target):
    r = run_cli(["serve-api", "--api-url", target.url])
    assert r.returncode == 2
    r = run_cli(["serve-api", "notaport", "--bootstrap", module_broker.bootstrap])
    assert r.returncode == 2
    port = int(target.url.rsplit(":", 1)[1])
    r = run_cli(["serve-api", str(port), "--bootstrap", module_broker.bootstrap], timeout=30)
    assert r.returncode == 3 and b"in use" in r.stderr, r.stderr

#!/usr/bin/python3
"""capture_golden.py - record real Kafka clients' request frames as golden test data.

Dev tool, run once by hand (outputs committed):
    /usr/bin/python3 tests/tools/capture_golden.py [MESSAGES_DIR] [OUT_DIR]
defaults: $RMQ_SHARED_DIR/kafka-protocol/messages (or ../shared/... next to the
repo) and tests/data/golden.

A tiny fake broker listens on 127.0.0.1 (random port), records the first frame
of every (client, api, version) it receives as <client>_<api>_v<ver>.bin
(frame without the 4-byte size prefix) and answers enough for the client to
progress: ApiVersions, Metadata advertising itself, Produce (stores the
batches), Fetch (serves them back), ListOffsets, FindCoordinator,
InitProducerId, CreateTopics, DescribeConfigs, group membership, ... Requests
are parsed and responses encoded by a small codec driven by the same JSON
message definitions the C generator reads. Clients: kcat (-L, -P, -C) and
confluent-kafka-python (producer, consumer with assign and with subscribe,
AdminClient), and kafka-python (older, non-flexible versions). Every client run
has a timeout of a few seconds; the server only listens on loopback.

    /usr/bin/python3 tests/tools/capture_golden.py --synth [OUT_DIR]
writes synth_<api>_v<ver>.bin request frames (every field set) for the lowest,
highest and first flexible version of every API, encoded by this file's
codec: fuzz seeds and an independent-encoder check in the unit test.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
API_KEYS = [18, 3, 0, 1, 2, 19, 20, 37, 32, 33, 44, 10, 11, 14, 12, 13, 8, 9, 16,
            15, 42, 22, 60, 17, 36, 21, 23, 61]


# ---- schema-driven codec (requests decoded, responses encoded) -------------------

def strip_comments(text):
    return re.sub(r'^\s*//.*$', '', text, flags=re.M)


def vrange(s):
    if s is None or s == "none":
        return (1, 0)
    s = str(s)
    if s.endswith("+"):
        return (int(s[:-1]), 0x7FFF)
    if "-" in s:
        a, b = s.split("-")
        return (int(a), int(b))
    return (int(s), int(s))


def inr(v, r):
    return r[0] <= v <= r[1]


class Schema:
    def __init__(self, mdir):
        self.req, self.resp, self.names = {}, {}, {}
        for fn in os.listdir(mdir):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(mdir, fn)) as fh:
                m = json.loads(strip_comments(fh.read()))
            if m.get("apiKey") not in API_KEYS or m.get("type") not in ("request", "response"):
                continue
            (self.req if m["type"] == "request" else self.resp)[m["apiKey"]] = m
            if m["type"] == "request":
                self.names[m["apiKey"]] = m["name"][:-len("Request")]

    @staticmethod
    def flex(m, v):
        return inr(v, vrange(m.get("flexibleVersions")))


class Reader:
    def __init__(self, b, pos=0):
        self.b, self.p = b, pos

    def take(self, n):
        if self.p + n > len(self.b):
            raise ValueError("truncated")
        r = self.b[self.p:self.p + n]
        self.p += n
        return r

    def uvar(self):
        v = s = 0
        while True:
            c = self.take(1)[0]
            v |= (c & 0x7F) << s
            s += 7
            if not c & 0x80:
                return v

    def i(self, fmt):
        return struct.unpack(">" + fmt, self.take(struct.calcsize(fmt)))[0]


PRIMS = {"bool": "?", "int8": "b", "int16": "h", "uint16": "H", "int32": "i", "int64": "q", "float64": "d"}


def default_of(f):
    t = f["type"]
    d = f.get("default")
    if t.startswith("[]"):
        return []
    if t in PRIMS:
        if t == "bool":
            return str(d).lower() == "true"
        if t == "float64":
            return float(d or 0)
        return int(str(d), 0) if d not in (None, "") else 0
    if t == "string":
        return None if d == "null" else (d or "")
    if t == "bytes":
        return None if d == "null" else b""
    if t == "records":
        return None
    if t == "uuid":
        return b"\0" * 16
    return {}


def dec_fields(fields, v, flex, r):
    out = {}
    tagged = {}
    for f in fields:
        if not inr(v, vrange(f["versions"])):
            continue
        if "tag" in f and flex and inr(v, vrange(f.get("taggedVersions"))):
            tagged[f["tag"]] = f
            continue
        out[f["name"]] = dec_val(f, f["type"], v, flex, r)
    if flex:
        for _ in range(r.uvar()):
            tag, size = r.uvar(), r.uvar()
            if tag in tagged:
                sub = Reader(r.take(size))
                out[tagged[tag]["name"]] = dec_val(tagged[tag], tagged[tag]["type"], v, flex, sub)
            else:
                r.take(size)
    return out


def dec_len(r, flex, wide):
    if flex:
        return r.uvar() - 1
    return r.i("i" if wide else "h")


def dec_val(f, t, v, flex, r):
    if t.startswith("[]"):
        n = dec_len(r, flex, True)
        if n < 0:
            return None
        return [dec_val(f, t[2:], v, flex, r) for _ in range(n)]
    if t in PRIMS:
        return r.i(PRIMS[t])
    if t == "uuid":
        return r.take(16)
    if t == "string":
        n = dec_len(r, flex, False)
        return None if n < 0 else r.take(n).decode("utf-8", "replace")
    if t in ("bytes", "records"):
        n = dec_len(r, flex, True)
        return None if n < 0 else r.take(n)
    return dec_fields(f["fields"], v, flex, r)


def enc_len(n, flex, wide):
    if flex:
        return uvar(n + 1)
    return struct.pack(">i" if wide else ">h", n)


def uvar(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc_fields(fields, v, flex, obj):
    out = bytearray()
    tagged = []
    for f in fields:
        if not inr(v, vrange(f["versions"])):
            continue
        val = obj.get(f["name"], default_of(f)) if isinstance(obj, dict) else default_of(f)
        if "tag" in f and flex and inr(v, vrange(f.get("taggedVersions"))):
            if f["name"] in obj:
                tagged.append((f["tag"], enc_val(f, f["type"], v, flex, val)))
            continue
        out += enc_val(f, f["type"], v, flex, val)
    if flex:
        out += uvar(len(tagged))
        for tag, data in sorted(tagged):
            out += uvar(tag) + uvar(len(data)) + data
    return bytes(out)


def enc_val(f, t, v, flex, val):
    if t.startswith("[]"):
        if val is None:
            return enc_len(-1, flex, True)
        return enc_len(len(val), flex, True) + b"".join(enc_val(f, t[2:], v, flex, e) for e in val)
    if t in PRIMS:
        return struct.pack(">" + PRIMS[t], val)
    if t == "uuid":
        return bytes(val)
    if t == "string":
        if val is None:
            return enc_len(-1, flex, False)
        b = val.encode()
        return enc_len(len(b), flex, False) + b
    if t in ("bytes", "records"):
        if val is None:
            return enc_len(-1, flex, True)
        return enc_len(len(val), flex, True) + bytes(val)
    return enc_fields(f["fields"], v, flex, val or {})


# ---- fake broker ---------------------------------------------------------------------

class Broker:
    def __init__(self, schema, outdir, client):
        self.s = schema
        self.outdir = outdir
        self.client = client
        self.saved = set()
        self.topics = {}  # name -> {"id": bytes16, "parts": n}
        self.log = {}  # (topic, part) -> [(base, count, bytes)]
        self.member = "member-1"
        self.assignment = b""
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def close(self):
        self.stop = True
        self.sock.close()

    def accept_loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def topic(self, name, parts=1):
        if name not in self.topics:
            self.topics[name] = {"id": uuid.uuid5(uuid.NAMESPACE_DNS, name).bytes, "parts": parts}
        return self.topics[name]

    def name_of(self, tid):
        for n, t in self.topics.items():
            if t["id"] == tid:
                return n
        return None

    def serve(self, conn):
        conn.settimeout(10)
        try:
            while not self.stop:
                hdr = recv_all(conn, 4)
                if not hdr:
                    return
                frame = recv_all(conn, struct.unpack(">i", hdr)[0])
                if frame is None:
                    return
                resp = self.handle(frame)
                if resp is not None:
                    conn.sendall(struct.pack(">i", len(resp)) + resp)
        except (OSError, ValueError) as e:
            sys.stderr.write("conn error: %r\n" % (e,))
        finally:
            conn.close()

    def handle(self, frame):
        key, ver, corr = struct.unpack(">hhi", frame[:8])
        req_m, resp_m = self.s.req.get(key), self.s.resp.get(key)
        name = self.s.names.get(key, "Unknown%d" % key)
        fname = "%s_%s_v%d.bin" % (self.client, name, ver)
        with self.lock:
            if fname not in self.saved and req_m is not None and inr(ver, vrange(req_m["validVersions"])):
                self.saved.add(fname)
                with open(os.path.join(self.outdir, fname), "wb") as fh:
                    fh.write(frame)
        sys.stderr.write("  %s: %s v%d (%d bytes)\n" % (self.client, name, ver, len(frame)))
        if req_m is None:
            return None
        r = Reader(frame, 8)
        n = r.i("h")
        if n > 0:
            r.take(n)
        if key == 18 and not inr(ver, vrange(req_m["validVersions"])):
            # unsupported ApiVersions version: answer v0 with UNSUPPORTED_VERSION
            body = enc_fields(resp_m["fields"], 0, False, {"ErrorCode": 35, "ApiKeys": self.api_list()})
            return struct.pack(">i", corr) + body
        rflex = Schema.flex(req_m, ver)
        if rflex:
            for _ in range(r.uvar()):
                r.uvar()
                r.take(r.uvar())
        req = dec_fields(req_m["fields"], ver, rflex, r)
        with self.lock:
            resp = self.respond(key, ver, req)
        if resp is None:
            return None
        flex = Schema.flex(resp_m, ver)
        head = struct.pack(">i", corr) + (b"\0" if flex and key != 18 else b"")
        return head + enc_fields(resp_m["fields"], ver, flex, resp)

    def api_list(self):
        out = []
        for k in sorted(API_KEYS):
            lo, hi = vrange(self.s.req[k]["validVersions"])
            out.append({"ApiKey": k, "MinVersion": lo, "MaxVersion": hi})
        return out

    def broker_entry(self):
        return {"NodeId": 1, "Host": "127.0.0.1", "Port": self.port, "Rack": None}

    def respond(self, key, ver, req):
        if key == 18:
            return {"ErrorCode": 0, "ApiKeys": self.api_list(), "ThrottleTimeMs": 0}
        if key == 3:
            topics = req.get("Topics")
            if topics is None or (ver == 0 and not topics):
                names = list(self.topics)
            else:
                names = [t["Name"] or self.name_of(t.get("TopicId")) for t in topics]
                for n in names:
                    if n:
                        self.topic(n)
            tl = []
            for n in names:
                t = self.topic(n)
                parts = [{"ErrorCode": 0, "PartitionIndex": p, "LeaderId": 1, "LeaderEpoch": 0,
                          "ReplicaNodes": [1], "IsrNodes": [1], "OfflineReplicas": []} for p in range(t["parts"])]
                tl.append({"ErrorCode": 0, "Name": n, "TopicId": t["id"], "IsInternal": False,
                           "Partitions": parts, "TopicAuthorizedOperations": -2147483648})
            return {"Brokers": [self.broker_entry()], "ClusterId": "golden-cluster", "ControllerId": 1,
                    "Topics": tl, "ClusterAuthorizedOperations": -2147483648}
        if key == 0:
            out = []
            for td in req["TopicData"]:
                parts = []
                for pd in td["PartitionData"]:
                    base = self.append(td["Name"], pd["Index"], pd["Records"] or b"")
                    parts.append({"Index": pd["Index"], "ErrorCode": 0, "BaseOffset": base,
                                  "LogAppendTimeMs": -1, "LogStartOffset": 0})
                out.append({"Name": td["Name"], "PartitionResponses": parts})
            if req["Acks"] == 0:
                return None
            return {"Responses": out, "ThrottleTimeMs": 0}
        if key == 1:
            out = []
            any_data = False
            for ft in req["Topics"]:
                tname = ft.get("Topic") or self.name_of(ft.get("TopicId"))
                parts = []
                for fp in ft["Partitions"]:
                    data, hw = self.read(tname, fp["Partition"], fp["FetchOffset"])
                    any_data = any_data or bool(data)
                    parts.append({"PartitionIndex": fp["Partition"], "ErrorCode": 0, "HighWatermark": hw,
                                  "LastStableOffset": hw, "LogStartOffset": 0, "AbortedTransactions": [],
                                  "PreferredReadReplica": -1, "Records": data})
                out.append({"Topic": tname, "TopicId": ft.get("TopicId", b"\0" * 16), "Partitions": parts})
            if not any_data:
                self.lock.release()
                time.sleep(min(req.get("MaxWaitMs", 100), 200) / 1000.0)
                self.lock.acquire()
            return {"ThrottleTimeMs": 0, "ErrorCode": 0, "SessionId": 0, "Responses": out}
        if key == 2:
            out = []
            for t in req["Topics"]:
                parts = []
                for p in t["Partitions"]:
                    _, hw = self.read(t["Name"], p["PartitionIndex"], 1 << 62)
                    off = 0 if p["Timestamp"] == -2 else hw
                    parts.append({"PartitionIndex": p["PartitionIndex"], "ErrorCode": 0, "OldStyleOffsets": [off],
                                  "Timestamp": -1, "Offset": off, "LeaderEpoch": 0})
                out.append({"Name": t["Name"], "Partitions": parts})
            return {"ThrottleTimeMs": 0, "Topics": out}
        if key == 10:
            keys = req.get("CoordinatorKeys") or [req.get("Key", "")]
            return {"ErrorCode": 0, "NodeId": 1, "Host": "127.0.0.1", "Port": self.port,
                    "Coordinators": [{"Key": k, "NodeId": 1, "Host": "127.0.0.1", "Port": self.port,
                                      "ErrorCode": 0} for k in keys]}
        if key == 22:
            return {"ErrorCode": 0, "ProducerId": 1000, "ProducerEpoch": 0}
        if key == 19:
            res = []
            for t in req["Topics"]:
                n = t["NumPartitions"] if t["NumPartitions"] > 0 else 1
                self.topic(t["Name"], n)
                res.append({"Name": t["Name"], "TopicId": self.topics[t["Name"]]["id"], "ErrorCode": 0,
                            "NumPartitions": n, "ReplicationFactor": 1, "Configs": []})
            return {"Topics": res}
        if key == 20:
            names = req.get("TopicNames") or [t["Name"] for t in req.get("Topics", [])]
            return {"Responses": [{"Name": n, "ErrorCode": 0} for n in names]}
        if key == 37:
            return {"Results": [{"Name": t["Name"], "ErrorCode": 0} for t in req["Topics"]]}
        if key == 32:
            res = []
            for rs in req["Resources"]:
                cfgs = [{"Name": "retention.ms", "Value": "604800000", "ReadOnly": False, "IsDefault": True,
                         "ConfigSource": 5, "IsSensitive": False, "Synonyms": [], "ConfigType": 5},
                        {"Name": "cleanup.policy", "Value": "delete", "ReadOnly": False, "IsDefault": True,
                         "ConfigSource": 5, "IsSensitive": False, "Synonyms": [], "ConfigType": 2}]
                res.append({"ErrorCode": 0, "ErrorMessage": None, "ResourceType": rs["ResourceType"],
                            "ResourceName": rs["ResourceName"], "Configs": cfgs})
            return {"Results": res}
        if key in (33, 44):
            return {"Responses": [{"ErrorCode": 0, "ResourceType": rs["ResourceType"],
                                   "ResourceName": rs["ResourceName"]} for rs in req["Resources"]]}
        if key == 11:
            protos = req["Protocols"]
            return {"ErrorCode": 0, "GenerationId": 1, "ProtocolType": req.get("ProtocolType"),
                    "ProtocolName": protos[0]["Name"], "Leader": self.member, "MemberId": self.member,
                    "Members": [{"MemberId": self.member, "GroupInstanceId": None,
                                 "Metadata": protos[0]["Metadata"]}]}
        if key == 14:
            for a in req.get("Assignments", []):
                if a["MemberId"] == self.member:
                    self.assignment = a["Assignment"]
            return {"ErrorCode": 0, "ProtocolType": req.get("ProtocolType"),
                    "ProtocolName": req.get("ProtocolName"), "Assignment": self.assignment}
        if key in (12, 13):
            return {"ErrorCode": 0}
        if key == 9:
            def parts_of(topics):
                return [{"Name": t["Name"], "Partitions": [{"PartitionIndex": p, "CommittedOffset": -1,
                                                            "CommittedLeaderEpoch": -1, "Metadata": "",
                                                            "ErrorCode": 0}
                                                           for p in t["PartitionIndexes"]]}
                        for t in (topics or [])]
            if "Groups" in req:
                return {"Groups": [{"GroupId": g["GroupId"], "Topics": parts_of(g["Topics"]), "ErrorCode": 0}
                                   for g in req["Groups"]]}
            return {"Topics": parts_of(req.get("Topics")), "ErrorCode": 0}
        if key == 8:
            return {"Topics": [{"Name": t["Name"], "Partitions": [{"PartitionIndex": p["PartitionIndex"],
                                                                   "ErrorCode": 0} for p in t["Partitions"]]}
                               for t in req["Topics"]]}
        if key == 16:
            return {"ErrorCode": 0, "Groups": []}
        if key == 15:
            return {"Groups": [{"ErrorCode": 0, "GroupId": g, "GroupState": "Empty", "ProtocolType": "consumer",
                                "ProtocolData": "", "Members": []} for g in req["Groups"]]}
        if key == 42:
            return {"Results": [{"GroupId": g, "ErrorCode": 0} for g in req["GroupsNames"]]}
        if key == 60:
            return {"ErrorCode": 0, "ClusterId": "golden-cluster", "ControllerId": 1,
                    "Brokers": [{"BrokerId": 1, "Host": "127.0.0.1", "Port": self.port, "Rack": None}]}
        return {}

    def append(self, topic, part, records):
        self.topic(topic)
        log = self.log.setdefault((topic, part), [])
        nxt = log[-1][0] + log[-1][1] if log else 0
        base = nxt
        pos = 0
        while pos + 61 <= len(records):  # RecordBatch v2: patch baseOffset, count from lastOffsetDelta
            blen = struct.unpack(">i", records[pos + 8:pos + 12])[0]
            batch = bytearray(records[pos:pos + 12 + blen])
            count = struct.unpack(">i", batch[23:27])[0] + 1
            batch[0:8] = struct.pack(">q", nxt)
            log.append((nxt, count, bytes(batch)))
            nxt += count
            pos += 12 + blen
        return base

    def read(self, topic, part, offset):
        log = self.log.get((topic, part), [])
        hw = log[-1][0] + log[-1][1] if log else 0
        data = b"".join(b for (base, cnt, b) in log if base + cnt > offset)
        return data, hw


def recv_all(conn, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = conn.recv(n - len(buf))
        except socket.timeout:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


# ---- clients ---------------------------------------------------------------------------

def run(cmd, stdin=None, timeout=8):
    try:
        subprocess.run(cmd, input=stdin, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        sys.stderr.write("  (timeout: %s)\n" % " ".join(cmd))


def kcat_clients(b):
    bs = "127.0.0.1:%d" % b.port
    run(["kcat", "-b", bs, "-L"])
    run(["kcat", "-b", bs, "-P", "-t", "golden", "-K", ":", "-H", "h1=v1", "-H", "trace=abc"],
        stdin=b"k1:hello\nk2:world\nk3:third message\n")
    run(["kcat", "-b", bs, "-C", "-t", "golden", "-c", "3", "-o", "beginning", "-e"])


def confluent_clients(b):
    import confluent_kafka
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    bs = "127.0.0.1:%d" % b.port
    p = confluent_kafka.Producer({"bootstrap.servers": bs, "acks": "all", "compression.type": "lz4",
                                  "enable.idempotence": True, "linger.ms": 5})
    for i in range(5):
        p.produce("golden", key=b"key%d" % i, value=b"value-%d" % i, headers=[("h", b"x")])
    p.flush(5)
    c = confluent_kafka.Consumer({"bootstrap.servers": bs, "group.id": "golden-assign",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([confluent_kafka.TopicPartition("golden", 0, confluent_kafka.OFFSET_BEGINNING)])
    deadline = time.time() + 4
    got = 0
    while time.time() < deadline and got < 5:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    c.close()
    sys.stderr.write("  consumer(assign) got %d messages\n" % got)
    c = confluent_kafka.Consumer({"bootstrap.servers": bs, "group.id": "golden-group",
                                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    c.subscribe(["golden"])
    deadline = time.time() + 5
    got = 0
    while time.time() < deadline and got < 2:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    if got:
        try:
            c.commit(asynchronous=False)
        except Exception as e:  # noqa: BLE001 - best effort, only the frames matter
            sys.stderr.write("  commit: %r\n" % (e,))
    c.close()
    sys.stderr.write("  consumer(subscribe) got %d messages\n" % got)
    a = AdminClient({"bootstrap.servers": bs})
    for fut in a.create_topics([NewTopic("golden-admin", 3, 1, config={"retention.ms": "1000"})]).values():
        try:
            fut.result(5)
        except Exception as e:  # noqa: BLE001
            sys.stderr.write("  create_topics: %r\n" % (e,))
    calls = [
        lambda: a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "golden")]),
        lambda: a.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, "golden",
                                                set_config={"retention.ms": "2000"})]),
        lambda: a.create_partitions([NewPartitions("golden-admin", 4)]),
        lambda: a.delete_topics(["golden-admin"]),
    ]
    for call in calls:
        try:
            for fut in call().values():
                fut.result(5)
        except Exception as e:  # noqa: BLE001
            sys.stderr.write("  admin: %r\n" % (e,))
    try:
        a.list_groups(timeout=3)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("  list_groups: %r\n" % (e,))


def kafka_python_clients(b):
    import kafka
    bs = "127.0.0.1:%d" % b.port
    p = kafka.KafkaProducer(bootstrap_servers=bs, api_version=(2, 0, 0), acks="all", request_timeout_ms=3000)
    for i in range(3):
        p.send("golden-kp", key=b"k%d" % i, value=b"v%d" % i).get(timeout=5)
    p.close(timeout=3)
    c = kafka.KafkaConsumer(bootstrap_servers=bs, api_version=(2, 0, 0), auto_offset_reset="earliest",
                            enable_auto_commit=False, consumer_timeout_ms=2000)
    c.assign([kafka.TopicPartition("golden-kp", 0)])
    got = sum(1 for _ in c)
    c.close()
    sys.stderr.write("  kafka-python consumer got %d messages\n" % got)


def synth_fill(fields, v):
    """A request object with a non-default value in every field of version v."""
    out = {}
    for f in fields:
        if not inr(v, vrange(f["versions"])):
            continue

        def val(t):
            if t.startswith("[]"):
                return [val(t[2:])]
            if t in PRIMS:
                return True if t == "bool" else (1.5 if t == "float64" else 7)
            if t == "string":
                return "ab"
            if t in ("bytes", "records"):
                return b"xyz"
            if t == "uuid":
                return bytes(range(16))
            return synth_fill(f["fields"], v)
        out[f["name"]] = val(f["type"])
    return out


def write_synthetic(schema, outdir):
    """Fuzz seeds (and an independent-encoder check) for the versions no real
    client here sends: every API's lowest, highest and first flexible request
    version, every field set, encoded by this file's codec, not the C one."""
    n = 0
    for k, m in sorted(schema.req.items()):
        lo, hi = vrange(m["validVersions"])
        fl, _ = vrange(m.get("flexibleVersions"))
        for v in sorted({lo, hi} | ({fl} if fl <= hi else set())):
            flex = Schema.flex(m, v)
            hdr = struct.pack(">hhih", k, v, 123, 3) + b"syn" + (b"\0" if flex else b"")
            body = enc_fields(m["fields"], v, flex, synth_fill(m["fields"], v))
            with open(os.path.join(outdir, "synth_%s_v%d.bin" % (schema.names[k], v)), "wb") as fh:
                fh.write(hdr + body)
            n += 1
    sys.stderr.write("wrote %d synthetic frames to %s\n" % (n, outdir))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--synth":
        shared = os.environ.get("RMQ_SHARED_DIR", os.path.join(REPO, "..", "shared"))
        outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "tests", "fuzz", "corpus", "kafka_request")
        write_synthetic(Schema(os.path.join(shared, "kafka-protocol", "messages")), outdir)
        return 0
    shared = os.environ.get("RMQ_SHARED_DIR", os.path.join(REPO, "..", "shared"))
    mdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(shared, "kafka-protocol", "messages")
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "tests", "data", "golden")
    os.makedirs(outdir, exist_ok=True)
    schema = Schema(mdir)
    for client, fn in (("kcat", kcat_clients), ("confluent", confluent_clients), ("kafkapython", kafka_python_clients)):
        sys.stderr.write("%s:\n" % client)
        b = Broker(schema, outdir, client)
        try:
            fn(b)
        except Exception as e:  # noqa: BLE001 - keep what was captured
            sys.stderr.write("  %s failed: %r\n" % (client, e))
        b.close()
        sys.stderr.write("  saved %d frames\n" % len(b.saved))
    return 0


if __name__ == "__main__":
    sys.exit(main())

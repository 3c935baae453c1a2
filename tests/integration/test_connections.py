"""1,000 concurrent TCP connections, each sending a hand-encoded ApiVersions
request (v0..v3) and getting a valid response, all connections open at once."""
import resource
import selectors
import socket
import struct
import time

from helpers import admin, api_versions_request, parse_api_versions_response

NCONN = 1000
BROKER_CONFIG = {"network": {"max_connections": 4096}}


def _raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    assert soft >= need, "RLIMIT_NOFILE hard limit %d is too low for %d connections" % (hard, NCONN)


def test_thousand_concurrent_api_versions(module_broker):
    b = module_broker
    _raise_nofile(NCONN + 512)
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for i in range(NCONN):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=15)
            socks.append(s)
        # every connection is open before any request is sent
        for i, s in enumerate(socks):
            s.sendall(api_versions_request(i % 4, i, client_id="conn-%d" % i))
        bufs = {}
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            bufs[i] = bytearray()
        results = {}
        closed = []
        deadline = time.monotonic() + 90
        while len(results) + len(closed) < NCONN:
            assert time.monotonic() < deadline, "%d responses, %d closed, %d still waiting" % (
                len(results), len(closed), NCONN - len(results) - len(closed))
            for key, _ in sel.select(timeout=1.0):
                i = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    closed.append(i)
                    sel.unregister(key.fileobj)
                    continue
                buf = bufs[i]
                buf += chunk
                if len(buf) >= 4:
                    size = struct.unpack(">i", buf[:4])[0]
                    if len(buf) >= 4 + size:
                        assert len(buf) == 4 + size, "conn %d: bytes beyond the response" % i
                        results[i] = bytes(buf[4:])
                        sel.unregister(key.fileobj)
        log = b.log_text()
        emfile = [l for l in log.splitlines() if "EMFILE" in l or "too many open files" in l.lower()]
        assert not emfile, "broker ran out of file descriptors: %s" % emfile[:3]
        assert closed == [], "%d connections closed without a response (first: %s)" % (len(closed), closed[:10])

        assert len(results) == NCONN
        tables = {}
        for i, payload in results.items():
            v = i % 4
            corr, err, keys, throttle = parse_api_versions_response(v, payload)
            assert corr == i, "conn %d: correlation id %d" % (i, corr)
            assert err == 0, "conn %d (v%d): error %d" % (i, v, err)
            assert throttle == 0
            assert 18 in keys and keys[18][0] == 0 and keys[18][1] >= 3, keys.get(18)
            for k in (0, 1, 3):
                assert k in keys, "conn %d: api %d not advertised" % (i, k)
                assert keys[k][0] <= keys[k][1]
            tables.setdefault(v, keys)
            assert keys == tables[v]
        # every version lists the same table
        assert all(t == tables[0] for t in tables.values())

        # with all of them still open, a normal client gets served
        md = admin(b.bootstrap).list_topics(timeout=15)
        assert len(md.brokers) == 1
    finally:
        sel.close()
        for s in socks:
            s.close()
    # the broker survives the mass disconnect
    md = admin(b.bootstrap).list_topics(timeout=15)
    assert len(md.brokers) == 1
    assert b.running

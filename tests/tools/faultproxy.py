#!/usr/bin/python3
"""faultproxy.py - a small fault-injecting HTTP/1.1 proxy for RustMQ's
object-store tests. It sits between a client (our S3 backend) and an S3
server (s3rver) and, at random with a fixed seed, answers 500 or 503 with an
S3 error body, stalls (holds the request without answering), resets the
connection (RST), or forwards the request and truncates the response body
(full Content-Length, half the bytes, then close). Everything else is
forwarded unchanged. Standard library only; run with /usr/bin/python3.

    faultproxy.py --upstream 127.0.0.1:PORT [--listen 127.0.0.1:0] [--seed N]
                  [--p500 R] [--p503 R] [--stall R] [--stall-seconds S]
                  [--reset R] [--truncate R] [--methods GET,PUT,...] [--log]

Prints "LISTENING <port>" on stdout once it accepts connections. Fault
decisions are drawn from one seeded RNG in request arrival order, so a
sequential client sees the same faults on every run. On SIGTERM/SIGINT it
prints per-outcome counts to stderr and exits.
"""
import argparse
import http.client
import random
import signal
import socket
import socketserver
import struct
import sys
import threading
import time

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class Faults:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.table = [("500", args.p500), ("503", args.p503), ("stall", args.stall),
                      ("reset", args.reset), ("truncate", args.truncate)]
        total = sum(r for _, r in self.table)
        if total > 1.0:
            raise SystemExit("fault rates add up to more than 1")
        self.methods = set(m.strip().upper() for m in args.methods.split(",")) if args.methods else None
        self.counts = {}

    def decide(self, method):
        with self.lock:
            x = self.rng.random()
            outcome = "pass"
            if self.methods is None or method in self.methods:
                acc = 0.0
                for name, rate in self.table:
                    acc += rate
                    if x < acc:
                        outcome = name
                        break
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            return outcome


def read_request(rfile):
    """Returns (method, target, version, headers[list of (k, v)], body) or None at EOF."""
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(65537)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    method, target, version = parts
    headers = []
    while True:
        h = rfile.readline(65537)
        if not h:
            raise ValueError("eof in headers")
        if h in (b"\r\n", b"\n"):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    length = 0
    for k, v in headers:
        if k.lower() == "content-length":
            length = int(v)
        if k.lower() == "transfer-encoding" and v.lower() != "identity":
            raise ValueError("chunked request bodies are not supported")
    body = rfile.read(length) if length else b""
    if len(body) != length:
        raise ValueError("short request body")
    return method, target, version, headers, body


def error_response(code):
    reason = {500: "Internal Server Error", 503: "Service Unavailable"}[code]
    s3code = {500: "InternalError", 503: "SlowDown"}[code]
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>injected by faultproxy</Message></Error>" % s3code).encode()
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n"
            % (code, reason, len(body))).encode()
    return head + body


class Handler(socketserver.StreamRequestHandler):
    def reset(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()

    def forward(self, method, target, headers, body):
        up_host, up_port = self.server.upstream
        conn = http.client.HTTPConnection(up_host, up_port, timeout=60)
        try:
            fwd = {}
            for k, v in headers:
                if k.lower() in HOP_HEADERS:
                    continue
                fwd[k] = v if k not in fwd else fwd[k] + "," + v
            conn.request(method, target, body=body if body else None, headers=fwd)
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
            out_headers = [(k, v) for k, v in resp.getheaders()
                           if k.lower() not in HOP_HEADERS and k.lower() != "content-length"]
            if method == "HEAD":
                cl = resp.getheader("Content-Length")
                if cl is not None:
                    out_headers.append(("Content-Length", cl))
            else:
                out_headers.append(("Content-Length", str(len(data))))
            return resp.status, resp.reason, out_headers, data
        finally:
            conn.close()

    def handle(self):
        faults = self.server.faults
        while True:
            try:
                req = read_request(self.rfile)
            except (ValueError, OSError):
                return
            if req is None:
                return
            method, target, _version, headers, body = req
            outcome = faults.decide(method)
            if self.server.log:
                sys.stderr.write("faultproxy: %s %s -> %s\n" % (method, target, outcome))
            if outcome in ("500", "503"):
                self.wfile.write(error_response(int(outcome)))
                self.wfile.flush()
                continue
            if outcome == "stall":
                time.sleep(self.server.stall_seconds)
                self.reset()
                return
            if outcome == "reset":
                self.reset()
                return
            try:
                status, reason, out_headers, data = self.forward(method, target, headers, body)
            except OSError:
                self.wfile.write(error_response(503))
                self.wfile.flush()
                continue
            head = "HTTP/1.1 %d %s\r\n" % (status, reason)
            head += "".join("%s: %s\r\n" % (k, v) for k, v in out_headers) + "\r\n"
            if outcome == "truncate":
                if not data:  # nothing to cut: behave like a reset
                    self.reset()
                    return
                self.wfile.write(head.encode("latin-1") + data[: len(data) // 2])
                self.wfile.flush()
                try:  # orderly close (FIN): the client sees a short body
                    self.connection.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            self.wfile.write(head.encode("latin-1") + data)
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="host:port of the real server")
    ap.add_argument("--listen", default="127.0.0.1:0", help="host:port to listen on (port 0 = any)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--p500", type=float, default=0.0)
    ap.add_argument("--p503", type=float, default=0.0)
    ap.add_argument("--stall", type=float, default=0.0)
    ap.add_argument("--stall-seconds", type=float, default=5.0)
    ap.add_argument("--reset", type=float, default=0.0)
    ap.add_argument("--truncate", type=float, default=0.0)
    ap.add_argument("--methods", default="", help="only inject faults into these methods (default all)")
    ap.add_argument("--log", action="store_true", help="log every decision to stderr")
    args = ap.parse_args()

    host, _, port = args.listen.rpartition(":")
    uhost, _, uport = args.upstream.rpartition(":")
    server = Server((host or "127.0.0.1", int(port)), Handler)
    server.upstream = (uhost or "127.0.0.1", int(uport))
    server.faults = Faults(args)
    server.stall_seconds = args.stall_seconds
    server.log = args.log

    def stop(_sig, _frm):
        sys.stderr.write("faultproxy: %s\n" % " ".join("%s=%d" % kv for kv in sorted(server.faults.counts.items())))
        sys.stderr.flush()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("LISTENING %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()

"""A minimal WebSocket client (RFC 6455, text frames, the standard library only) and a
`ghaminer serve` in the background, for the serve scenarios.

  WS(url, headers)    connect; .status is the handshake's HTTP status (101 when upgraded),
                      .body its body otherwise; .recv() → the next message as parsed JSON
                      (None once closed: .close_code, .close_reason); .messages() reads until
                      a predicate holds; .pause() stops reading (a slow client)
  Reader(ws, until)   read a client in a thread; .result() → its messages
  Server(...)         ghaminer serve on 127.0.0.1 and a free port, stderr kept; .http()
"""

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse

from harness import TOKEN, check_miner_stderr, check_wrapper, fail, miner_cmd, scaled
from harness3 import miner_env

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WS:
    def __init__(self, url, headers=None, timeout=20, rcvbuf=None):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # a small receive buffer: a client that does not read fills up fast
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((u.hostname, u.port))
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        h = {"Host": "%s:%d" % (u.hostname, u.port), "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        h.update(headers or {})
        req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.buf = b""
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        self.close_code = self.close_reason = None
        self.closed = False
        self.body = b""
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                if not self._fill():
                    break
            self.body = self.buf[:n]
            self.sock.close()
            self.closed = True
            return
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if self.headers.get("sec-websocket-accept") != accept:
            fail("bad Sec-WebSocket-Accept from the server: %r" % self.headers)

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            d = b""
        if not d:
            return False
        self.buf += d
        return True

    def _read_until(self, sep):
        while sep not in self.buf:
            if not self._fill():
                fail("connection closed during the handshake (got %r)" % self.buf[:300])
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_n(self, n):
        while len(self.buf) < n:
            if not self._fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.sendall(head + mask + masked)
        except OSError:
            pass

    def recv_raw(self):
        """→ (opcode, payload) of the next frame, or None when the connection ended."""
        h = self._read_n(2)
        if h is None:
            return None
        opcode, n = h[0] & 0x0F, h[1] & 0x7F
        if h[1] & 0x80:
            fail("the server masked a frame")
        if n == 126:
            n = struct.unpack("!H", self._read_n(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_n(8))[0]
        payload = self._read_n(n) if n else b""
        if payload is None:
            return None
        return opcode, payload

    def recv(self):
        """The next message as JSON, or None once closed (close_code/close_reason set)."""
        while not self.closed:
            f = self.recv_raw()
            if f is None:
                self.closed = True
                break
            opcode, payload = f
            if opcode == 1:
                return json.loads(payload.decode("utf-8"))
            if opcode == 8:
                if len(payload) >= 2:
                    self.close_code = struct.unpack("!H", payload[:2])[0]
                    self.close_reason = payload[2:].decode("utf-8", "replace")
                self._send_frame(8, payload[:2])
                self.closed = True
                self.sock.close()
                break
            if opcode == 9:
                self._send_frame(10, payload)
        return None

    def messages(self, until, timeout=30, what="a message"):
        """Read messages until until(msg) is true → every message read (that one last)."""
        out = []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        while True:
            m = self.recv()
            if m is None:
                fail("the stream closed (%s %r) before %s; read %d messages, last %s"
                     % (self.close_code, self.close_reason, what, len(out), out[-3:]))
            out.append(m)
            if until(m):
                return out
            if time.monotonic() > deadline:
                fail("no %s within %ss (%d messages read)" % (what, timeout, len(out)))

    def close(self):
        if not self.closed:
            self._send_frame(8, struct.pack("!H", 1000))
            self.closed = True
        self.sock.close()


class Reader(threading.Thread):
    """Read ws in a thread until until(msg) (or the end): .msgs, .error; join(t) → msgs."""

    def __init__(self, ws, until, timeout=60, what="the end"):
        super().__init__(daemon=True)
        self.ws, self.until, self.timeout, self.what = ws, until, timeout, what
        self.msgs, self.error = [], None
        self.start()

    def run(self):
        try:
            self.msgs = self.ws.messages(self.until, timeout=self.timeout, what=self.what)
        except Exception as e:  # reported by result()
            self.error = e

    def result(self):
        self.join(self.timeout + 5)
        if self.is_alive():
            fail("a client's reader did not finish within %ss" % self.timeout)
        if self.error:
            raise self.error
        return self.msgs


def stage(name):
    return lambda m: m.get("type") == "status" and m["data"].get("stage") == name


class Server:
    """ghaminer serve on 127.0.0.1:<free port> in cwd; args are extra options."""

    def __init__(self, cwd, args=(), token=TOKEN, env=None):
        self.cwd = cwd
        fd, self.err_path = tempfile.mkstemp(prefix="ghaminer-serve-stderr-")
        self.err = os.fdopen(fd, "w+b")
        # behind GHAMINER_WRAPPER too (valgrind in scripts/test --valgrind)
        self.cmd = cmd = miner_cmd(["serve", "--listen", "127.0.0.1:0"] + list(args))
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=miner_env(token, env), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + scaled(15)
        self.port = None
        while self.port is None:
            m = re.search(r"serving on http://127\.0\.0\.1:(\d+)", self.stderr())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                fail("ghaminer serve exited with %s:\n%s" % (self.proc.returncode, self.stderr()))
            elif time.monotonic() > deadline:
                fail("ghaminer serve did not say where it listens:\n" + self.stderr())
            else:
                time.sleep(0.02)
        self.base = "127.0.0.1:%d" % self.port

    def stderr(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def ws(self, path, **kw):
        return WS("ws://%s%s" % (self.base, path), **kw)

    def http(self, method, path, headers=None, timeout=30):
        """→ (status, headers (lower-case keys), body bytes)"""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, method, path, headers=None):
        status, _, body = self.http(method, path, headers)
        return status, json.loads(body)

    def stop(self, sig=15, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("ghaminer serve did not stop within %ss of signal %d:\n%s" % (timeout, sig, self.stderr()[-3000:]))
        check_miner_stderr(self.stderr(), self.cmd)  # sanitizer reports fail the test
        check_wrapper(self.proc.pid, self.proc.returncode, self.cmd)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        os.unlink(self.err_path)
        return False

#!/usr/bin/env python3
"""ghaminer serve, who gets in (issue 11):
  - a bad path → 404; a WebSocket to a bad repository name → an error message and a close
    with a reason; to a repository the API does not know → error, close 4404;
  - no token anywhere → 401 before the upgrade; a Bearer token is used for mining;
  - ?token= works, warns once that URLs end up in logs, and the value is never logged;
  - an Origin not allowed → 403; an allowed one → 101;
  - a huge header is refused; a client that never answers pings is closed; the
    connection cap; a non-loopback address needs --allow-remote and a serve_token,
    which every request must then carry."""

import os
import re
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TOKEN, Sim, check, run_miner, scenario  # noqa: E402
from harness3 import fast_config  # noqa: E402
from wsclient import Server, stage  # noqa: E402

REPO = "octo/access"
SCENARIO = {"repos": [{"full_name": REPO, "runs": 30, "seed": 5, "jobs_min": 0, "jobs_max": 1}]}


def ended(ws, what):
    """Read to the end → every message; the stream must close."""
    out = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        m = ws.recv()
        if m is None:
            return out
        out.append(m)
    check(False, "%s: the stream did not close (read %s)" % (what, out[-3:]))


def without_token(sim, d):
    cfg = fast_config(d, api_url=sim.url)
    with Server(d, ["-c", cfg], token=None) as srv:
        st, _, body = srv.http("GET", "/nope")
        check(st == 404, "GET /nope answered %s" % st)
        big = socket.create_connection(("127.0.0.1", srv.port))
        big.settimeout(10)
        try:
            big.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 500000 + b"\r\n\r\n")
        except OSError:
            pass  # closed before it all went: refused too
        try:
            answer = big.recv(100)
        except OSError:
            answer = b""
        big.close()
        check(answer == b"" or answer.startswith(b"HTTP/1.1 400"),
              "a 500 KB header was answered %r, expected 400 or a close" % answer[:60])
        ws = srv.ws("/stream/octo")
        check(ws.status == 404, "a WebSocket to /stream/octo answered %s, expected 404" % ws.status)
        ws = srv.ws("/stream/" + REPO)
        check(ws.status == 401 and b"token" in ws.body,
              "no token anywhere: the upgrade answered %s %r, expected 401" % (ws.status, ws.body))
        # ?token= twice: it works, one warning, never the value
        for _ in range(2):
            ws = srv.ws("/stream/%s?token=%s" % (REPO, TOKEN))
            check(ws.status == 101, "?token=: the upgrade answered %s %r" % (ws.status, ws.body))
            msgs = ws.messages(stage("pass_done"), what="pass_done with ?token=")
            check(msgs[-1]["data"]["ok"], "the pass with ?token= failed: %r" % msgs[-3:])
            ws.close()
        code = srv.stop()
        log = srv.stderr()
        check(code == 143, "exit code %s after SIGTERM" % code)
        check(log.count("?token=") == 1 and "logs" in log,
              "?token= should warn exactly once that URLs end up in logs:\n" + log)
        check(TOKEN not in log and TOKEN[4:] not in log, "the token is in the log:\n" + log)


def with_token(sim, d):
    cfg = fast_config(d, api_url=sim.url, allowed_origins="http://dash.example:8080", serve_max_clients=3)
    with Server(d, ["-c", cfg]) as srv:
        ws = srv.ws("/stream/bad!name/x")
        check(ws.status == 101, "a bad repository name: the upgrade answered %s" % ws.status)
        msgs = ended(ws, "a bad repository name")
        check(msgs and msgs[0]["type"] == "error" and ws.close_code == 4400
              and "invalid repository" in (ws.close_reason or ""),
              "a bad repository name: got %r, closed %s %r" % (msgs, ws.close_code, ws.close_reason))
        ws = srv.ws("/stream/octo/nosuchrepo")
        msgs = ended(ws, "an unknown repository")
        check(any(m["type"] == "error" for m in msgs) and ws.close_code == 4404
              and "not found" in (ws.close_reason or ""),
              "an unknown repository: got %r, closed %s %r" % (msgs[-3:], ws.close_code, ws.close_reason))
        ws = srv.ws("/stream/" + REPO, headers={"Origin": "http://evil.example"})
        check(ws.status == 403, "a foreign Origin answered %s, expected 403" % ws.status)
        ws = srv.ws("/stream/" + REPO, headers={"Origin": "http://dash.example:8080"})
        check(ws.status == 101, "an allowed Origin answered %s %r" % (ws.status, ws.body))
        ws2 = srv.ws("/stream/" + REPO, headers={"Origin": "http://" + srv.base})
        check(ws2.status == 101, "the server's own Origin answered %s" % ws2.status)
        ws2.close()
        local = "localhost:%d" % srv.port
        ws2 = srv.ws("/stream/" + REPO, headers={"Host": local, "Origin": "http://" + local})
        check(ws2.status == 101, "the page opened as http://%s: the upgrade answered %s" % (local, ws2.status))
        rebound = "evil.example:%d" % srv.port  # DNS rebinding: the Host matches, it is not ours
        ws3 = srv.ws("/stream/" + REPO, headers={"Host": rebound, "Origin": "http://" + rebound})
        check(ws3.status == 403, "a rebound name as Host and Origin answered %s, expected 403" % ws3.status)
        # the cap: two connections open, a third fits, a fourth is closed at once
        s3 = socket.create_connection(("127.0.0.1", srv.port))
        s4 = socket.create_connection(("127.0.0.1", srv.port))
        s4.settimeout(5)
        try:
            gone = s4.recv(1) == b""
        except ConnectionResetError:
            gone = True
        check(gone, "a connection past serve_max_clients was kept open")
        check("serve_max_clients" in srv.stderr(), "the refused connection is not in the log")
        for s in (s3, s4):
            s.close()
        ws.close()
        ws2.close()
        check(srv.stop() == 143, "exit code after SIGTERM")


def exposure(sim, d):
    r = run_miner(["serve", "--listen", "0.0.0.0:0", "--api-url", sim.url], cwd=d)
    check(r.code == 2 and "--allow-remote" in r.stderr, "0.0.0.0 without --allow-remote: exit %s\n%s"
          % (r.code, r.stderr))
    r = run_miner(["serve", "--listen", "0.0.0.0:0", "--allow-remote", "--api-url", sim.url], cwd=d)
    check(r.code == 2 and "serve_token" in r.stderr, "--allow-remote without a serve_token: exit %s\n%s"
          % (r.code, r.stderr))
    secret = "s3cret-serve-token-0123456789"
    cfg = fast_config(d, api_url=sim.url, serve_token=secret)
    with Server(d, ["-c", cfg]) as srv:
        st, _, _ = srv.http("GET", "/api/repos")
        check(st == 401, "no serve token: /api/repos answered %s" % st)
        st, _, _ = srv.http("GET", "/api/repos", headers={"Authorization": "Bearer wrong"})
        check(st == 401, "a wrong serve token: /api/repos answered %s" % st)
        st, _, _ = srv.http("GET", "/api/repos", headers={"Authorization": "Bearer " + secret})
        check(st == 200, "the serve token in Authorization: /api/repos answered %s" % st)
        ws = srv.ws("/stream/%s?key=%s" % (REPO, secret))
        check(ws.status == 101, "the serve token as ?key=: the upgrade answered %s" % ws.status)
        ws.close()
        check(srv.stop() == 143, "exit code after SIGTERM")
        check(secret not in srv.stderr(), "the serve token is in the log")


def idle(sim, d):
    """Pinged every 300 ms: a client that never answers (never reads) is closed after two
    intervals; one that reads (and so answers the pings) stays."""
    cfg = fast_config(d, api_url=sim.url)
    with Server(d, ["-c", cfg], env={"GHAMINER_WS_PING_MS": "300"}) as srv:
        mute = srv.ws("/stream/" + REPO)
        live = srv.ws("/stream/" + REPO)
        live.messages(stage("pass_done"), what="pass_done")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # reading answers the pings
            live.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                f = live.recv_raw()
            except OSError:
                f = None
            if f and f[0] == 9:
                live._send_frame(10, f[1])
            check(f is None or f[0] != 8, "a client that answers pings was closed: %r" % (f,))
        closed = re.findall(r"client #(\d+) \S+ on \S+ closed: no answer to pings", srv.stderr())
        check(closed == ["1"], "clients closed for not answering pings: %s, expected the silent #1:\n%s"
              % (closed, srv.stderr()[-1500:]))
        ended(mute, "the silent client")
        check(mute.close_code == 1001 and "idle" in (mute.close_reason or ""),
              "the silent client was closed with %s %r" % (mute.close_code, mute.close_reason))
        live.close()
        check(srv.stop() == 143, "exit code after SIGTERM")


@scenario("serve: paths, tokens, origins, the connection cap, remote binding")
def main():
    with Sim(SCENARIO) as sim:
        for case in (without_token, with_token, exposure, idle):
            with tempfile.TemporaryDirectory(prefix="ghaminer-") as d:
                case(sim, d)


if __name__ == "__main__":
    main()

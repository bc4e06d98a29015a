#!/usr/bin/env python3
"""Raw-socket HTTP clients that misbehave on purpose, for t0130 and
bench/connections.sh. Every mode is bounded in time and prints one result
line (key=value ...) on stdout.

  trickle HOST PORT N SECONDS STATUS [SRC]
      open N connections from SRC (default 127.0.0.1), send a request line
      and then one header byte per connection every ~2 s, never ending the
      header; write "connected=C open=O" to STATUS as it goes; stop after
      SECONDS or when STATUS.stop exists. Prints connected= open= closed=.
  slowheader HOST PORT INTERVAL SECONDS
      one connection sending a header byte every INTERVAL s: prints
      closed_after=S (the server closed it) or closed_after=never.
  slowbody HOST PORT PATH TOKEN SECONDS
      PUT PATH announcing 1 MB, send 1000 bytes, then nothing: prints
      closed_after=S or never, and the status if one came.
  limit HOST PORT N SRC OTHER
      hold N idle connections from SRC, then open one more from SRC and one
      from OTHER: prints held=H extra=closed|open other=closed|open.
  probe HOST PORT COUNT SRC PATH
      COUNT GET PATH requests one after another, each on a new connection
      from SRC (3 s timeout each, at most 40 s in all): prints ok= fail=
      (of the requests made) p50_ms= p99_ms= (of those that succeeded).
  idle HOST PORT N PREFIX SECONDS STATUS
      N keep-alive connections from PREFIX.1 .. PREFIX.200 (e.g. 127.0.1),
      each sending one GET /healthz and reading the reply, then idle; write
      "open=O ok=K" to STATUS; hold until SECONDS pass or STATUS.stop exists.
  forwarded HOST PORT N SRC TOKEN CLIENT OTHER
      as a proxy on SRC: N requests from CLIENT (X-Forwarded-For) left in
      flight (a POST whose body never comes), then GET /healthz for CLIENT
      and for OTHER: prints held=N extra=STATUS other=STATUS.
  hang HOST PORT PORTFILE
      a server on HOST (PORT 0: any) that accepts connections and never
      answers (a build mirror that hangs); its port goes to PORTFILE.
      Runs until killed.
  raw HOST PORT FILE [SRC]
      send FILE's bytes, print status=NNN (the reply's status) and
      the reply in body= (one line, JSON as is).
"""
import os
import resource
import select
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(hard, want)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(host, port, src=None, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def is_closed(s, wait=0.0):
    """True when the server closed s (EOF or reset) within wait seconds."""
    p = select.poll()   # not select(): descriptors past 1023
    p.register(s, select.POLLIN)
    if not p.poll(wait * 1000):
        return False
    try:
        return s.recv(65536, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def is_closed_or_readable(s, wait):
    p = select.poll()
    p.register(s, select.POLLIN)
    return bool(p.poll(wait * 1000))


def trickle(host, port, n, seconds, status, src="127.0.0.1"):
    n, seconds = int(n), float(seconds)
    raise_nofile(n)
    end = time.monotonic() + seconds
    socks, closed = [], 0

    def report():
        with open(status + ".tmp", "w") as f:
            f.write("connected=%d open=%d\n" % (len(socks) + closed, len(socks)))
        os.rename(status + ".tmp", status)

    for i in range(n):
        try:
            s = connect(host, port, src)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            socks.append(s)
        except OSError:
            closed += 1
        if i % 100 == 99:
            report()
    report()
    i = 0
    while time.monotonic() < end and not os.path.exists(status + ".stop"):
        # a byte to 1/20 of them every 0.1 s: each one every ~2 s
        for s in socks[i % 20::20]:
            try:
                s.send(b"a")
            except OSError:
                pass
        i += 1
        time.sleep(0.1)
        if i % 10 == 0:
            alive = []
            for s in socks:
                if is_closed(s):
                    closed += 1
                    s.close()
                else:
                    alive.append(s)
            socks = alive
            report()
    print("connected=%d open=%d closed=%d" % (len(socks) + closed, len(socks), closed))


def slowheader(host, port, interval, seconds):
    interval, seconds = float(interval), float(seconds)
    s = connect(host, port)
    start = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    while time.monotonic() - start < seconds:
        if is_closed(s, interval):
            print("closed_after=%.1f" % (time.monotonic() - start))
            return
        try:
            s.send(b"a")
        except OSError:
            print("closed_after=%.1f" % (time.monotonic() - start))
            return
    print("closed_after=never")


def slowbody(host, port, path, token, seconds):
    seconds = float(seconds)
    s = connect(host, port)
    s.sendall(("PUT %s HTTP/1.1\r\nHost: t\r\nX-Auth-Token: %s\r\n"
               "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"
               % (path, token)).encode() + b"\0" * 1000)
    start = time.monotonic()
    got = b""
    while time.monotonic() - start < seconds:
        if not is_closed_or_readable(s, 0.2):
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            status = got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/") else "none"
            print("closed_after=%.1f status=%s" % (time.monotonic() - start, status))
            return
        got += data
    print("closed_after=never")


def limit(host, port, n, src, other):
    n = int(n)
    raise_nofile(n)
    held = [connect(host, port, src) for _ in range(n)]
    time.sleep(0.5)
    alive = sum(not is_closed(s) for s in held)
    extra = connect(host, port, src)
    o = connect(host, port, other)
    e_closed = is_closed(extra, 2.0)
    o_closed = is_closed(o, 0.5)
    print("held=%d extra=%s other=%s" % (alive, "closed" if e_closed else "open",
                                         "closed" if o_closed else "open"))


def raw(host, port, path, src=None):
    s = connect(host, port, src)
    s.sendall(open(path, "rb").read())
    got = b""
    s.settimeout(10)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += data
            head, sep, body = got.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length" and len(body) >= int(v):
                        raise StopIteration
    except (StopIteration, socket.timeout, OSError):
        pass
    status = got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/") else "none"
    body = got.partition(b"\r\n\r\n")[2].decode("utf-8", "replace").replace("\n", " ")
    print("status=%s body=%s" % (status, body))


def read_reply(s):
    """The status of one HTTP reply on s (its body read), or None."""
    got = b""
    while b"\r\n\r\n" not in got:
        data = s.recv(65536)
        if not data:
            return None
        got += data
    head, _, body = got.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        data = s.recv(65536)
        if not data:
            return None
        body += data
    return int(head.split(b" ", 2)[1])


def probe(host, port, count, src, path):
    times, fail = [], 0
    end = time.monotonic() + 40
    for _ in range(int(count)):
        if time.monotonic() > end:
            break
        t0 = time.monotonic()
        try:
            s = connect(host, port, src, timeout=3)
            s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                       % path).encode())
            ok = read_reply(s) == 200
            s.close()
        except OSError:
            ok = False
        if ok:
            times.append((time.monotonic() - t0) * 1000)
        else:
            fail += 1
    times.sort()
    pct = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else 0
    print("ok=%d fail=%d p50_ms=%.2f p99_ms=%.2f" % (len(times), fail, pct(0.5), pct(0.99)))


def idle(host, port, n, prefix, seconds, status):
    n, seconds = int(n), float(seconds)
    raise_nofile(n)
    end = time.monotonic() + seconds
    socks, ok = [], 0
    for i in range(n):
        try:
            s = connect(host, port, "%s.%d" % (prefix, 1 + i % 200), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            if read_reply(s) == 200:
                ok += 1
            socks.append(s)
        except OSError:
            pass
    alive = sum(not is_closed(s) for s in socks)
    with open(status + ".tmp", "w") as f:
        f.write("open=%d ok=%d\n" % (alive, ok))
    os.rename(status + ".tmp", status)
    while time.monotonic() < end and not os.path.exists(status + ".stop"):
        time.sleep(0.2)
    alive = sum(not is_closed(s) for s in socks)
    print("open=%d ok=%d still_open=%d" % (len(socks), ok, alive))


def forwarded(host, port, n, src, token, client, other):
    n = int(n)
    raise_nofile(n)
    held = []
    for _ in range(n):
        s = connect(host, port, src)
        s.sendall(("POST /v2/images HTTP/1.1\r\nHost: t\r\nX-Auth-Token: %s\r\n"
                   "X-Forwarded-For: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: 100\r\n\r\n" % (token, client)).encode())
        held.append(s)
    time.sleep(0.5)
    alive = sum(not is_closed(s) for s in held)
    res = []
    for who in (client, other):
        s = connect(host, port, src)
        s.sendall(("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: %s\r\n"
                   "Connection: close\r\n\r\n" % who).encode())
        try:
            res.append(read_reply(s))
        except OSError:
            res.append(None)
        s.close()
    print("held=%d extra=%s other=%s" % (alive, res[0], res[1]))


def hang(host, port, portfile):
    s = socket.socket()
    s.bind((host, port))
    s.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    held = []
    while True:
        held.append(s.accept()[0])


if __name__ == "__main__":
    modes = {"trickle": trickle, "slowheader": slowheader, "slowbody": slowbody,
             "limit": limit, "raw": raw, "probe": probe, "idle": idle, "hang": hang,
             "forwarded": forwarded}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    host, port = sys.argv[2], int(sys.argv[3])
    modes[sys.argv[1]](host, port, *sys.argv[4:])

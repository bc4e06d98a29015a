#!/usr/bin/env python3
"""Helpers of bench/run.sh (python3 standard library only).

  benchlib.py freeport
      print a free TCP port on 127.0.0.1
  benchlib.py rss PID OUTFILE [INTERVAL_MS]
      sample VmRSS of PID from /proc every INTERVAL_MS (default 50) until
      SIGTERM/SIGINT or until PID exits; write "MAX_KIB SAMPLES" to OUTFILE
  benchlib.py create URL TOKEN COUNT THREADS PREFIX
      create COUNT images through POST /v2/images, THREADS keep-alive
      connections; os_distro cycles over five distros, x_bench=value-N;
      print "SECONDS COUNT" (exits non-zero on any failed create)
  benchlib.py latency URL TOKEN COUNT PATH
      GET PATH COUNT times on one keep-alive connection (after 5 warm-up
      requests); print "MEDIAN_MS P95_MS NIMAGES" where NIMAGES is the
      length of the "images" array of the last answer
  benchlib.py timed LOG CMD [ARG...]
      run CMD with its output to LOG; print "WALL USER SYS" in seconds,
      USER and SYS those of CMD and every process it waited for
      (getrusage RUSAGE_CHILDREN); exits with CMD's status, on failure
      after the last lines of LOG

  From Python (sys.path holding bench/): steps(REC) reads lines "STEP
  SECONDS LOAD", prints a table of each step's median, median load and
  every value, and returns {STEP: [SECONDS, ...]} (the run-*.sh benches).
"""
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

DISTROS = ("debian", "ubuntu", "rocky", "alma", "fedora")


def freeport():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def rss(pid, outfile, interval_ms=50):
    stop = False
    peak = 0
    samples = 0

    def on_signal(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    path = "/proc/%d/status" % pid
    while not stop:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        kib = int(line.split()[1])
                        peak = max(peak, kib)
                        samples += 1
                        break
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(interval_ms / 1000.0)
    with open(outfile, "w") as f:
        f.write("%d %d\n" % (peak, samples))


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def create(url, token, count, threads, prefix):
    headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
    errors = []
    lock = threading.Lock()
    next_i = [0]

    def worker():
        conn = connect(url)
        while True:
            with lock:
                i = next_i[0]
                if i >= count or errors:
                    break
                next_i[0] += 1
            body = json.dumps({
                "name": "%s-%05d" % (prefix, i),
                "disk_format": "raw",
                "container_format": "bare",
                "os_distro": DISTROS[i % len(DISTROS)],
                "x_bench": "value-%d" % i,
            })
            try:
                conn.request("POST", "/v2/images", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    errors.append("create %d: %s" % (i, e))
                break
            if resp.status != 201:
                with lock:
                    errors.append("create %d: HTTP %d %s" % (i, resp.status, data[:200]))
                break
        conn.close()

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        print("\n".join(errors[:5]), file=sys.stderr)
        sys.exit(1)
    print("%.3f %d" % (elapsed, count))


def latency(url, token, count, path):
    headers = {"X-Auth-Token": token}
    conn = connect(url)
    times = []
    body = b""
    for i in range(count + 5):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        dt = time.perf_counter() - t0
        if resp.status != 200:
            print("GET %s: HTTP %d %s" % (path, resp.status, body[:200]), file=sys.stderr)
            sys.exit(1)
        if i >= 5:
            times.append(dt * 1000.0)
    conn.close()
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
    try:
        n = len(json.loads(body).get("images", []))
    except ValueError:
        n = -1
    print("%.3f %.3f %d" % (statistics.median(times), p95, n))


def timed(log, cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        with open(log, errors="replace") as f:
            print("".join(f.readlines()[-20:]), file=sys.stderr, end="")
        print("%s: exit status %d (log: %s)" % (cmd[0], rc, log), file=sys.stderr)
        return rc
    print("%.2f %.2f %.2f" % (wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))
    return 0


def steps(path):
    rows = {}
    with open(path) as f:
        for line in f:
            k, v, load = line.split()
            rows.setdefault(k, []).append((float(v), float(load)))
    print("%-16s %8s %6s %s" % ("step", "median", "load", "all (s)"))
    for k in sorted(rows):
        print("%-16s %8.2f %6.1f %s" % (k, statistics.median(v for v, _ in rows[k]),
                                         statistics.median(l for _, l in rows[k]),
                                         " ".join("%.2f" % v for v, _ in rows[k])))
    return {k: [v for v, _ in vals] for k, vals in rows.items()}


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "freeport":
        freeport()
    elif cmd == "rss":
        rss(int(args[0]), args[1], int(args[2]) if len(args) > 2 else 50)
    elif cmd == "create":
        create(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif cmd == "latency":
        latency(args[0], args[1], int(args[2]), args[3])
    elif cmd == "timed" and len(args) >= 2:
        return timed(args[0], args[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

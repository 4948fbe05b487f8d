#!/usr/bin/env python3
"""Open N keep-alive connections to host:port, send one GET of PATH on each,
read its answer, then hold them all idle for HOLD seconds while printing the
server's RSS (pid PID) every second. Used by idle-rss.sh.

    idle-conns.py HOST PORT PATH N HOLD PID
"""
import socket
import sys
import time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def read_answer(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the answer")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return status


def main():
    host, port, path, n, hold, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conns, failed = [], 0
    for _ in range(n):
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(req)
            if read_answer(s) != 200:
                failed += 1
            conns.append(s)
        except OSError:
            failed += 1
    readings = []
    for _ in range(hold):
        time.sleep(1)
        readings.append(rss_mib(pid))
    # The idle connections still work.
    ok = 0
    for s in conns[:100]:
        try:
            s.sendall(req)
            if read_answer(s) == 200:
                ok += 1
        except OSError:
            pass
    print(f"open={len(conns)} failed={failed} rss_2s={readings[1]:.1f} rss_last={readings[-1]:.1f} "
          f"rss_peak={max(readings):.1f} reused_ok={ok}/{min(100, len(conns))}")
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()

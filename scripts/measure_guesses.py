#!/usr/bin/python3
"""Measure how many password guesses one source address gets answered per minute by an MQTT broker.

Usage: scripts/measure_guesses.py HOST PORT USERNAME [--seconds S] [--parallel N] [--source ADDR]
                                   [--evaluated-codes 4,5]

Sends MQTT 3.1.1 CONNECTs with wrong passwords as fast as the broker answers, from one source address,
with N connections in parallel, for S seconds (default 20, at most 120), and counts the CONNACK return
codes: 4 (bad username or password: the guess was evaluated), 5 (not authorized: Rampart's ban or lockout),
3 (server unavailable: Rampart's backoff or a full queue), and connections closed without an answer.
Prints one JSON object. Bounded in time and in attempts (at most 200000); talks only to HOST:PORT.
"""
import argparse
import json
import socket
import struct
import threading
import time


def connect_packet(client_id, username, password):
    def s(b):
        return struct.pack("!H", len(b)) + b
    var = s(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 30)
    payload = s(client_id) + s(username) + s(password)
    body = var + payload
    rl = len(body)
    enc = b""
    while True:
        d = rl % 128
        rl //= 128
        enc += bytes([d | (0x80 if rl else 0)])
        if not rl:
            break
    return bytes([0x10]) + enc + body


def one_attempt(host, port, source, username, n):
    pkt = connect_packet(b"guess-%d" % n, username.encode(), b"wrong-%d" % n)
    try:
        s = socket.create_connection((host, port), timeout=10, source_address=(source, 0) if source else None)
    except OSError:
        return "refused_tcp"
    try:
        s.sendall(pkt)
        data = b""
        while len(data) < 4:
            chunk = s.recv(4 - len(data))
            if not chunk:
                return "closed"
            data += chunk
        return "rc%d" % data[3]
    except OSError:
        return "closed"
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("username")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--source", default=None)
    ap.add_argument("--evaluated-codes", default="4",
                    help="CONNACK codes that mean the guess was checked (mosquitto 2.0 answers 5, Rampart 4)")
    a = ap.parse_args()
    seconds = min(a.seconds, 120)
    counts = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    total = [0]

    def worker(k):
        i = 0
        while time.monotonic() < deadline:
            with lock:
                if total[0] >= 200000:
                    return
                total[0] += 1
            r = one_attempt(a.host, a.port, a.source, a.username, k * 1000000 + i)
            i += 1
            with lock:
                counts[r] = counts.get(r, 0) + 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(max(1, min(a.parallel, 64)))]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    evaluated = sum(counts.get("rc" + c.strip(), 0) for c in a.evaluated_codes.split(","))
    print(json.dumps({"seconds": round(elapsed, 1), "parallel": a.parallel, "attempts": sum(counts.values()),
                      "answers": counts, "evaluated_guesses_per_minute": round(evaluated * 60 / elapsed)}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A bounded steady HTTP client for the e2e `ingress` scenario (Python stdlib only).

Sends RATE requests per second for DURATION seconds to URL with a Host header, each on a
new connection, on a fixed schedule (request i starts at t0 + i/RATE whatever the
previous ones do, so a slow answer does not lower the rate). With --cookie it keeps the
cookies the server sets (like a browser) and sends them back; --cookie-init seeds one. A
cookie client sends one request at a time, as a browser tab does (a request due while the
previous one is still open starts when that one ends), so every request carries the
cookie of the answer before it.

Writes one line per request to --out, in start order:

    <start epoch ms> <latency ms> <HTTP status or 0> <instance or -> <error or ->

where instance is what the answer names in parentheses (the demo app answers
"hello from fluxnode (<container hostname>)"). Prints a one-line summary on stdout:
sent, failed (no answer or a status other than 200) and the instances seen.

    scripts/steady-client.py --url http://127.0.0.1:8080/ --host demo.app.localtest \
        --rate 20 --duration 60 --cookie --out /tmp/sticky.log
"""

import argparse
import http.client
import http.cookies
import re
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

INSTANCE = re.compile(r"\(([^()\s]+)\)\s*$")


class Jar:
    """The cookies one client holds; thread-safe (requests overlap)."""

    def __init__(self, init):
        self.lock = threading.Lock()
        self.cookies = {}
        if init:
            name, _, value = init.partition("=")
            self.cookies[name.strip()] = value.strip()

    def header(self):
        with self.lock:
            return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def take(self, set_cookie_headers):
        with self.lock:
            for h in set_cookie_headers:
                c = http.cookies.SimpleCookie()
                try:
                    c.load(h)
                except http.cookies.CookieError:
                    continue
                for k, m in c.items():
                    self.cookies[k] = m.value


def one(url, host, jar, timeout):
    """One request; (status, instance, error)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        headers = {"Host": host, "Connection": "close"}
        if jar is not None and jar.header():
            headers["Cookie"] = jar.header()
        conn.request("GET", u.path or "/", headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        if jar is not None:
            jar.take(resp.headers.get_all("Set-Cookie") or [])
        m = INSTANCE.search(body.strip())
        err = "-" if resp.status == 200 else f"http-{resp.status}"
        return resp.status, (m.group(1) if m else "-"), err
    except (OSError, http.client.HTTPException) as e:
        return 0, "-", type(e).__name__
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8080/")
    p.add_argument("--host", required=True, help="Host header, e.g. demo.app.localtest")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds")
    p.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    p.add_argument("--cookie", action="store_true", help="keep and send cookies")
    p.add_argument("--cookie-init", default="", help="NAME=VALUE to start with (implies --cookie)")
    p.add_argument("--out", required=True, help="per-request log file")
    a = p.parse_args()
    if a.rate <= 0 or a.duration <= 0:
        p.error("--rate and --duration must be positive")
    jar = Jar(a.cookie_init) if (a.cookie or a.cookie_init) else None
    total = int(a.rate * a.duration)
    rows = [None] * total

    def run(i):
        t = time.time()
        status, inst, err = one(a.url, a.host, jar, a.timeout)
        rows[i] = (int(t * 1000), int((time.time() - t) * 1000), status, inst, err)

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=1 if jar is not None else 64) as pool:
        for i in range(total):
            due = t0 + i / a.rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(run, i)
    with open(a.out, "w") as f:
        for r in rows:
            f.write("%d %d %d %s %s\n" % r)
    failed = sum(1 for r in rows if r[2] != 200)
    seen = sorted({r[3] for r in rows if r[3] != "-"})
    print(f"sent {total} failed {failed} instances {','.join(seen) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

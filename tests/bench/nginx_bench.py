#!/usr/bin/env python3
"""The native module's throughput inside Debian's nginx, as ratios to no auth on the same nginx.

    nginx_bench.py MODULE.so OUT.md [--seconds S] [--rounds R]

One nginx (/usr/sbin/nginx, 1 worker, pinned to CPU 0) on 127.0.0.1 with one location per row,
each answering from the content phase with the same small static file (`open_file_cache`: no
file system call per request). Not `return 200`: `return` runs in the rewrite phase, before the
access phase where both jwtgate and `auth_request` decide, so it would bypass them. Not
`proxy_pass`: on this 2-core machine an upstream process would compete with nginx and wrk for
the CPUs and blur the ratios; the static file is the cheapest honest content phase, so the
ratios are the strictest.

Rows: no auth; `auth_request` to a local `location = /auth { return 204; }` (the seed's
pattern); jwtgate HS256, RS256 with a repeated token (verified once, then the token cache);
RS256 and ES256 with a new token per request (a list of PyJWT tokens longer than the token
cache, walked in order by a wrk Lua script: LRU misses every time). Every row runs the same wrk
script (1 thread, 16 keep-alive connections, pinned to CPU 1) sending an `Authorization:
Bearer` header, so the bytes on the wire are alike. Rounds are interleaved (each round runs
every row once) and the table gives medians; the extra µs per request is 1e6/rps(row) −
1e6/rps(no auth): nginx's one worker is saturated, so 1/rps is its time per request.

OpenSSL's own RSA-2048 and P-256 verification times (`openssl speed`) are printed beside the
per-request extra µs of the new-token rows (issue target: a new RS256 token costs ≤ 1.5×
OpenSSL's verify). Fails loudly when wrk, nginx, openssl or taskset is missing.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "corpus"))
import gen  # noqa: E402  (the corpus' keys and helpers)

NGINX = "/usr/sbin/nginx"
CONNECTIONS = 16
# Longer than the token cache (DEFAULT_MAX_ENTRIES, 1024, an LRU): walked in order, every
# request misses.
NEW_TOKENS = 1500

WRK_SCRIPT = r"""
-- Walks the tokens of args[1] (one per line), one per request, in order.
local tokens = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  assert(#tokens > 0, "no tokens in " .. args[1])
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. tokens[i]})
end
function done(summary, latency, requests)
  io.write(string.format("JWTGATE_STATUS non2xx=%d errors=%d\n", summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def need(tool, hint):
    path = shutil.which(tool) if not os.path.isabs(tool) else (tool if os.path.exists(tool) else None)
    if not path:
        raise SystemExit(f"nginx bench: {tool} not found: {hint}")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl_verify_us(algorithm):
    """µs per verification from `openssl speed` (native OpenSSL, no Python in between)."""
    out = subprocess.run(["openssl", "speed", "-seconds", "2", algorithm],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        # rsa:  "rsa 2048 bits 0.000520s 0.000016s   1923.1  62500.0"
        # ecdsa: "256 bits ecdsa (nistp256)   0.0000s   0.0001s  40000.0  13000.0"
        if algorithm == "rsa2048" and line.startswith("rsa 2048 bits") and len(fields) >= 7:
            return 1e6 / float(fields[-1])
        if algorithm == "ecdsap256" and "(nistp256)" in line and len(fields) >= 8:
            return 1e6 / float(fields[-1])
    raise SystemExit(f"nginx bench: cannot read openssl speed {algorithm}:\n{out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("module")
    ap.add_argument("out")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    module = os.path.abspath(args.module)
    need(NGINX, "apt-get install nginx nginx-dev")
    wrk = need("wrk", "apt-get install wrk (Debian's wrk 4.1: the load generator of this bench)")
    need("openssl", "apt-get install openssl")
    taskset = need("taskset", "apt-get install util-linux")
    if not os.path.exists(module):
        raise SystemExit(f"nginx bench: {module} is missing (make nginx-module)")

    tmp = tempfile.mkdtemp(prefix="jwtgate-nginx-bench-")
    os.chmod(tmp, 0o755)  # the worker runs as nginx's unprivileged user and reads www/
    proc = None
    try:
        # --- tokens (PyJWT) and the configuration ------------------------------------------
        providers = {alg.lower(): gen.provider(alg, "pem") for alg in ("HS256", "RS256", "ES256")}
        config = {"providers": providers,
                  "rules": [{"match": {"prefix": f"/{name}"}, "requires": {"provider_name": name}}
                            for name in providers]}
        with open(os.path.join(tmp, "jwtgate.json"), "w") as f:
            json.dump(config, f)

        def token_file(name, tokens):
            path = os.path.join(tmp, f"{name}.tokens")
            with open(path, "w") as f:
                f.write("\n".join(tokens) + "\n")
            return path

        t0 = time.time()
        # Each private key loaded once (loading checks an RSA key, which is slow).
        keys = {alg: gen.private_key(alg) for alg in ("HS256", "RS256", "ES256")}
        one = {alg: gen.token(alg, gen.claims(sub="bench"), key=keys[alg])
               for alg in ("HS256", "RS256")}
        files = {alg: token_file(alg, [tok]) for alg, tok in one.items()}
        for alg in ("RS256", "ES256"):
            files[alg + "-new"] = token_file(alg + "-new", [
                gen.token(alg, gen.claims(sub=f"user-{i}", jti=f"{alg}-{i}"), key=keys[alg])
                for i in range(NEW_TOKENS)])
        print(f"nginx bench: {NEW_TOKENS} RS256 and ES256 tokens minted by PyJWT "
              f"in {time.time() - t0:.1f} s")
        script = os.path.join(tmp, "tokens.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)

        # --- nginx -----------------------------------------------------------------------------
        os.makedirs(os.path.join(tmp, "www"))
        for d in ("plain", "authreq", "hs256", "rs256", "es256"):
            os.makedirs(os.path.join(tmp, "www", d))
            with open(os.path.join(tmp, "www", d, "ok"), "w") as f:
                f.write("ok\n")
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
load_module {module};
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity 01;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    root {tmp}/www;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location /plain/ {{ }}
        location /authreq/ {{ auth_request /auth; }}
        location = /auth {{ internal; return 204; }}
        location /hs256/ {{ jwtgate_config_file {tmp}/jwtgate.json; jwtgate_test_clock {gen.NOW}; }}
        location /rs256/ {{ jwtgate_config_file {tmp}/jwtgate.json; jwtgate_test_clock {gen.NOW}; }}
        location /es256/ {{ jwtgate_config_file {tmp}/jwtgate.json; jwtgate_test_clock {gen.NOW}; }}
    }}
}}
""")
        t = subprocess.run([NGINX, "-t", "-p", tmp, "-c", conf], capture_output=True, text=True)
        if t.returncode != 0:
            raise SystemExit(f"nginx bench: nginx -t failed:\n{t.stderr}")
        proc = subprocess.Popen([NGINX, "-p", tmp, "-c", conf],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit("nginx bench: nginx did not start:\n"
                                     + open(os.path.join(tmp, "error.log")).read())
                time.sleep(0.05)

        rows = [
            ("no auth (static file)", "/plain/ok", files["HS256"]),
            ("`auth_request` to a local `return 204`", "/authreq/ok", files["HS256"]),
            ("jwtgate HS256, repeated token", "/hs256/ok", files["HS256"]),
            ("jwtgate RS256, repeated token", "/rs256/ok", files["RS256"]),
            ("jwtgate RS256, new token per request", "/rs256/ok", files["RS256-new"]),
            ("jwtgate ES256, new token per request", "/es256/ok", files["ES256-new"]),
        ]

        children = f"/proc/{proc.pid}/task/{proc.pid}/children"
        worker = int(open(children).read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")

        def worker_cpu_seconds():
            fields = open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

        def wrk_run(path, tokens, seconds):
            cpu0 = worker_cpu_seconds()
            out = subprocess.run(
                [taskset, "-c", "1", wrk, "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds:g}s",
                 "-s", script, f"http://127.0.0.1:{port}{path}", "--", tokens],
                capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"nginx bench: wrk failed:\n{out.stdout}{out.stderr}")
            cpu = worker_cpu_seconds() - cpu0
            rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
            total = re.search(r"(\d+) requests in", out.stdout)
            status = re.search(r"JWTGATE_STATUS non2xx=(\d+) errors=(\d+)", out.stdout)
            if not rps or not status or not total:
                raise SystemExit(f"nginx bench: cannot read wrk's output:\n{out.stdout}")
            if status.group(1) != "0" or status.group(2) != "0":
                raise SystemExit(f"nginx bench: {path}: {status.group(1)} answers not 2xx, "
                                 f"{status.group(2)} socket errors (a refused token?):\n"
                                 f"{out.stdout}\n" + "".join(open(os.path.join(tmp, "error.log")).readlines()[-5:]))
            cpu_us.setdefault(path + tokens, []).append(cpu * 1e6 / int(total.group(1)))
            return float(rps.group(1))

        cpu_us = {}
        # Warm-up: each row once, briefly (token caches, open_file_cache, CPU frequency).
        for _, path, tokens in rows:
            wrk_run(path, tokens, 1)
        cpu_us.clear()
        samples = {name: [] for name, _, _ in rows}
        for r in range(args.rounds):
            for name, path, tokens in rows:
                samples[name].append(wrk_run(path, tokens, args.seconds))
            print(f"nginx bench: round {r + 1}/{args.rounds}: "
                  + ", ".join(f"{samples[n][-1]:.0f}" for n, _, _ in rows))
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    rsa_us = openssl_verify_us("rsa2048")
    p256_us = openssl_verify_us("ecdsap256")
    base = statistics.median(samples[rows[0][0]])
    lines = [
        "## Native NGINX module, requests per second (`make bench-nginx`)",
        "",
        f"Debian's {subprocess.run([NGINX, '-v'], capture_output=True, text=True).stderr.strip().split(': ')[-1]}, "
        f"1 worker (CPU 0), wrk 1 thread × {CONNECTIONS} keep-alive connections (CPU 1), "
        f"{args.rounds} interleaved rounds of {args.seconds:g} s per row, medians (min–max). "
        "Every row answers with the same static file (`return` would run before the access "
        "phase). Extra µs = 1e6/rps(row) − 1e6/rps(no auth): the worker's own time per request "
        "while it is saturated. The machine is shared, so the worker's CPU time per request "
        "(utime + stime from /proc, medians) is given beside: it does not count time the "
        "worker waited for a CPU.",
        "",
        "| request | requests/s | ÷ no auth | extra µs per request | worker CPU µs per request | ÷ no auth, by CPU time |",
        "|---|---|---|---|---|---|",
    ]
    base_cpu = statistics.median(cpu_us[rows[0][1] + rows[0][2]])
    for name, path, tokens in rows:
        s = samples[name]
        med = statistics.median(s)
        extra = "" if name == rows[0][0] else f"{1e6 / med - 1e6 / base:.1f}"
        cpu = statistics.median(cpu_us[path + tokens])
        lines.append(f"| {name} | {med:.0f} ({min(s):.0f}–{max(s):.0f}) | {med / base:.2f} | "
                     f"{extra} | {cpu:.1f} | {base_cpu / cpu:.2f} |")
    rs_new = 1e6 / statistics.median(samples[rows[4][0]]) - 1e6 / base
    es_new = 1e6 / statistics.median(samples[rows[5][0]]) - 1e6 / base
    rs_cpu = statistics.median(cpu_us[rows[4][1] + rows[4][2]]) - base_cpu
    lines += [
        "",
        f"OpenSSL native (`openssl speed -seconds 2`): RSA-2048 verify {rsa_us:.1f} µs, "
        f"P-256 ECDSA verify {p256_us:.1f} µs. A new RS256 token costs {rs_new:.1f} µs per request "
        f"over no auth = {rs_new / rsa_us:.1f}× OpenSSL's RSA-2048 verify (target ≤ 1.5×; by worker "
        f"CPU time {rs_cpu:.1f} µs = {rs_cpu / rsa_us:.1f}×); a new "
        f"ES256 token {es_new:.1f} µs = {es_new / p256_us:.1f}× OpenSSL's P-256 verify.",
        "",
    ]
    text = "\n".join(lines)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()

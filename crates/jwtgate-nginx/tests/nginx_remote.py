#!/usr/bin/env python3
"""remote_jwks, ext_auth and token introspection in the native module, inside the installed /usr/sbin/nginx.

Usage: nginx_remote.py MODULE.so

Starts on 127.0.0.1: an identity provider serving a JWKS (its answers scripted per test: keys,
garbage, 500, slow, counted), an auth service (allow / deny / error / slow by the credential,
counted), the raw echo upstream of nginx_module.py, and Debian's nginx with the module, two
workers (`listen … reuseport`, so connections spread over both) and the internal locations
/_jwtgate/<cluster>/ the callouts go to. Tokens are PyJWT's (an independent implementation).
Checks: cold start (concurrent requests wait for one fetch), several workers sharing that fetch
(the zone), rotation (the first token of a new key is accepted after one refetch), an unknown-kid
flood (bounded fetches), a garbage answer and an outage (known keys still accepted, forged
tokens refused, the stale refresh logged), what the fetch carries (User-Agent, never the
client's credentials), a cluster without an internal location (refused, nothing reaches the
wrong location), callout allow / deny / error / timeout / cache hits, client-sent copies of
the service's headers stripped, /_jwtgate/ unreachable from outside, token introspection
(RFC 7662: the POST body and Basic credentials the endpoint receives, active / inactive /
failed answers, the cache), and the metrics of both workers summed (`jwtgate_metrics;`).
Never skips.
"""

import http.client
import base64
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import h2.config
import h2.connection
import h2.events
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nginx_module import (NGINX, FAILURES, PASSED, Nginx, Upstream, check,  # noqa: E402
                          upstream_view, values)

ISSUER = "https://idp.test"
# Found through its OpenID configuration (the issuer names no reachable host: the internal
# location's proxy_pass decides where the document and the keys are fetched from).
OIDC_ISSUER = "https://oidc.test"
AUDIENCE = "api"
# The introspection client: reserved characters in both (RFC 6749 §2.3.1 form-encodes them
# before base64).
INTRO_CLIENT_ID = "nginx gate:1"
INTRO_CLIENT_SECRET = "p@ss/w=rd&é"


def new_key(kid):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return key, jwk


def token(key, kid, **claims):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600}
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


class Script:
    """What the scripted servers answer, and what they saw (shared with their threads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jwks = {"keys": []}
        self.jwks_mode = "ok"  # ok | garbage | error | slow
        self.oidc_jwks = {"keys": []}
        self.jwks_delay = 0.0
        self.fetches = 0
        self.fetch_headers = []
        self.auth_calls = 0
        self.auth_headers = []
        # Introspection: (method, path, headers, body) of every call the endpoint received.
        self.introspections = []
        self.other_paths = {}

    def count_fetch(self, path, headers):
        with self.lock:
            if path == "/keys":
                self.fetches += 1
                self.fetch_headers.append(headers)
            else:
                self.other_paths[path] = self.other_paths.get(path, 0) + 1


def idp_handler(script):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            script.count_fetch(self.path, {k.lower(): v for k, v in self.headers.items()})
            if self.path == "/keys" and script.jwks_delay:
                time.sleep(script.jwks_delay)
            # The discovery provider's document names its keys on another path.
            mode = "document" if self.path == "/.well-known/openid-configuration" else script.jwks_mode
            if mode == "document":
                body, status = json.dumps({"issuer": OIDC_ISSUER,
                                           "jwks_uri": f"{OIDC_ISSUER}/oidc-keys"}).encode(), 200
            elif self.path == "/oidc-keys":
                body, status = json.dumps(script.oidc_jwks).encode(), 200
            elif self.path != "/keys":
                body, status = b"no such thing", 404
            elif mode == "error":
                body, status = b"upstream trouble", 500
            elif mode == "garbage":
                body, status = b"<html>not a key set</html>", 200
            else:
                body, status = json.dumps(script.jwks).encode(), 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def auth_handler(script):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            seen = {k.lower(): v for k, v in self.headers.items()}
            with script.lock:
                script.auth_calls += 1
                script.auth_headers.append((self.path, seen))
            credential = seen.get("authorization", "")
            headers = []
            if credential.startswith("Key allow"):
                status = 200
                headers = [("X-User", "alice"), ("X-Other", "not-forwarded")]
            elif credential.startswith("Key deny"):
                status = 403
            elif credential.startswith("Key unknown"):
                status = 401
                headers = [("WWW-Authenticate", 'Key realm="shop"')]
            elif credential.startswith("Key slow"):
                time.sleep(3)
                status = 200
                headers = [("X-User", "late")]
            else:
                status = 503
            body = b"auth says %d" % status
            self.send_response(status)
            for n, v in headers:
                self.send_header(n, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            # The introspection endpoint (RFC 7662): answers by the token in the form body.
            seen = {k.lower(): v for k, v in self.headers.items()}
            length = int(seen.get("content-length", "0"))
            form = self.rfile.read(length).decode("latin-1")
            with script.lock:
                script.introspections.append((self.command, self.path, seen, form))
            fields = dict(urllib.parse.parse_qsl(form, keep_blank_values=True))
            tok = fields.get("token", "")
            now = int(time.time())
            status, answer = 200, {"active": False}
            if tok.startswith("good-slow"):
                time.sleep(0.5)  # concurrent requests with this token wait for one call
            if tok.startswith("good"):
                answer = {"active": True, "sub": "ivan", "client_id": "web", "scope": "orders profile",
                          "aud": AUDIENCE, "iss": ISSUER, "exp": now + 600, "iat": now - 1}
            elif tok == "noscope":
                answer = {"active": True, "sub": "ivan", "scope": "profile", "exp": now + 600}
            elif tok == "boom":
                status = 500
            elif tok == "slow":
                time.sleep(3)
                answer = {"active": True, "exp": now + 600}
            body = b"<html>oops</html>" if tok == "junk" else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def get(port, path, headers=(), timeout=15):
    """One request on its own connection: (status, headers, body, seconds)."""
    start = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for n, v in headers:
            conn.putheader(n, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, resp.getheaders(), body, time.time() - start
    finally:
        conn.close()


def bearer(t):
    return [("Authorization", f"Bearer {t}")]


def reason(headers):
    return ",".join(values(headers, "x-jwtgate-reason"))


def http_body(tmp, port, upstream, idp, auth):
    """The `http {}` body: jwtgate.json (written to `tmp`) and one server on `port` (HTTP/1.1)
    and `port + 1` (HTTP/2), with the internal locations the callouts go to."""
    cfg = {
        "providers": {
            "idp": {
                "issuer": ISSUER, "audiences": [AUDIENCE],
                "remote_jwks": {
                    "http_uri": {"uri": f"http://127.0.0.1:{idp}/keys", "cluster": "idp",
                                 "timeout": "2s"},
                    "cache_duration": "10s",
                    "kid_refetch_interval": "5s",
                    "retry_policy": {"retry_back_off": {"base_interval": "1s",
                                                        "max_interval": "2s"}}},
                "forward_payload_header": "x-jwt-payload"},
            "oidc": {
                "issuer": OIDC_ISSUER,
                "remote_jwks": {"openid_configuration": {"cluster": "idp", "timeout": "2s"}}},
            # Opaque tokens, introspected at the auth server's /introspect (RFC 7662).
            "intro": {
                "introspection": {
                    "http_uri": {"uri": f"http://127.0.0.1:{auth}/introspect", "cluster": "intro",
                                 "timeout": "1s"},
                    "client_id": INTRO_CLIENT_ID, "client_secret": INTRO_CLIENT_SECRET,
                    "required_scopes": ["orders"]},
                "from_headers": [{"name": "x-opaque-token"}],
                "claim_to_headers": [{"header_name": "x-intro-sub", "claim_name": "sub"}]},
            # A cluster without an internal location: /_jwtgate/nowhere/ falls into `location /`.
            "lost": {
                "issuer": "https://lost.test",
                "remote_jwks": {"http_uri": {"uri": f"http://127.0.0.1:{idp}/lost",
                                             "cluster": "nowhere", "timeout": "1s"}}}},
        "ext_auth": {
            "authz": {
                "http_uri": {"uri": f"http://127.0.0.1:{auth}/check", "cluster": "authz",
                             "timeout": "1s"},
                "allowed_upstream_headers": ["x-user"],
                "cache": {"allow_ttl": "60s", "deny_ttl": "60s"}}},
        "rules": [
            {"match": {"prefix": "/intro/"}, "requires": {"provider_name": "intro"}},
            {"match": {"prefix": "/ext/"}, "requires": {"ext_auth": "authz"}},
            {"match": {"prefix": "/lost/"}, "requires": {"provider_name": "lost"}},
            {"match": {"prefix": "/oidc/"}, "requires": {"provider_name": "oidc"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    }
    with open(os.path.join(tmp, "jwtgate.json"), "w") as f:
        json.dump(cfg, f)
    return f"""
    log_format by_worker '$pid $request_uri $status $connection';
    server {{
        listen 127.0.0.1:{port} reuseport;
        listen 127.0.0.1:{port + 1} http2;
        access_log {tmp}/access.log by_worker;
        jwtgate_config_file jwtgate.json;
        add_header X-Jwtgate-Reason $jwtgate_reason always;
        add_header X-Jwtgate-Result $jwtgate_result always;
        location / {{ proxy_pass http://127.0.0.1:{upstream}; }}
        location = /metrics {{ jwtgate off; jwtgate_metrics; allow 127.0.0.1; deny all; }}
        location /_jwtgate/idp/ {{
            internal;
            proxy_pass http://127.0.0.1:{idp}/;
            subrequest_output_buffer_size 256k;
        }}
        location /_jwtgate/intro/ {{
            internal;
            proxy_pass http://127.0.0.1:{auth}/;
            subrequest_output_buffer_size 64k;
        }}
        location /_jwtgate/authz/ {{
            internal;
            proxy_pass http://127.0.0.1:{auth}/;
            proxy_read_timeout 5s;
        }}
    }}
"""


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    module = os.path.abspath(sys.argv[1])
    for need in (NGINX, module):
        if not os.path.exists(need):
            raise SystemExit(f"FAIL: {need} is missing (apt-get install nginx nginx-dev; "
                             "make nginx-module)")
    tmp = tempfile.mkdtemp(prefix="jwtgate-nginx-remote-")
    script = Script()
    idp = serve(idp_handler(script))
    auth = serve(auth_handler(script))
    upstream = Upstream()
    port = two_free_ports()
    nginx = Nginx(module, tmp, workers=2)
    nginx.write(http_body(tmp, port, upstream.port, idp.server_address[1], auth.server_address[1]))
    try:
        nginx.start([port, port + 1])
        run(port, script, tmp, upstream)
        debug_log(module, upstream, idp.server_address[1], auth.server_address[1])
    finally:
        if not nginx.stop():
            FAILURES.append("nginx did not stop within 10 s of SIGQUIT (a pending timer or request)")
        if FAILURES:
            print(f"(nginx prefix kept: {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"nginx module (remote_jwks, ext_auth, introspection): {PASSED[0]} checks passed, {len(FAILURES)} failed")
    for f in FAILURES:
        print("  FAIL", f)
    sys.exit(1 if FAILURES else 0)


def h2_requests(port, paths, headers):
    """GETs on streams of one HTTP/2 connection (prior knowledge), all sent before any answer
    is read: the statuses in order (None for a stream without an answer)."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    conn.initiate_connection()
    streams = []
    for path in paths:
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                (":authority", "127.0.0.1")] + list(headers), end_stream=True)
        streams.append(sid)
    sock.sendall(conn.data_to_send())
    status, ended = {}, set()
    try:
        while len(ended) < len(streams):
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    ended.add(event.stream_id)
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            sock.sendall(conn.data_to_send())
    except OSError:
        pass
    finally:
        sock.close()
    return [status.get(sid) for sid in streams]


def debug_log(module, upstream, idp, auth):
    """With `error_log … debug` NGINX's own timer code reads the module's timer event (its
    `data` as a connection): a second instance ticks a few times and answers requests."""
    tmp = tempfile.mkdtemp(prefix="jwtgate-nginx-debug-")
    port = two_free_ports()
    nginx = Nginx(module, tmp, workers=2, log_level="debug")
    nginx.write(http_body(tmp, port, upstream.port, idp, auth))
    try:
        nginx.start([port])
        time.sleep(1.0)  # four ticks
        status, _, _, _ = get(port, "/ext/debug", [("Authorization", "Key allow-debug")])
        check(status == 200, f"debug log: ext_auth {status}")
        time.sleep(0.6)
        log = open(os.path.join(tmp, "error.log"), errors="replace").read()
        check("exited on signal" not in log, "debug log: a worker crashed (exited on signal)")
        check("[debug]" in log, "debug log: no debug lines (is nginx built --with-debug?)")
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def two_free_ports():
    """A port P with P + 1 free too (HTTP/1.1 on P, HTTP/2 on P + 1)."""
    for _ in range(100):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            p = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
            return p
    raise SystemExit("no two consecutive free ports")


def log_text(tmp):
    return open(os.path.join(tmp, "error.log"), errors="replace").read()


def concurrently(n, fn):
    results = [None] * n

    def one(i):
        try:
            results[i] = fn(i)
        except Exception as e:  # a failed request is a result, checked by the caller
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def introspection(port, script):
    """RFC 7662 through the internal location: what the endpoint receives, and each answer's
    effect (the reason and `$jwtgate_result`), the cache, one failure never cached."""
    def result(headers):
        return ",".join(values(headers, "x-jwtgate-result"))

    def opaque(t):
        return [("X-Opaque-Token", t)]

    calls = len(script.introspections)
    status, headers, body, _ = get(port, "/intro/a", opaque("good+/=1"))
    check((status, result(headers)) == (200, "allow"),
          f"introspection active: {status} {result(headers)} {reason(headers)}")
    if status == 200:
        _, seen = upstream_view(body)
        check(values(seen, "x-intro-sub") == ["ivan"],
              f"introspection: claim header upstream {values(seen, 'x-intro-sub')}")
        check(values(seen, "x-opaque-token") == [], "introspection: the token went upstream")
    check(len(script.introspections) == calls + 1,
          f"introspection: {len(script.introspections) - calls} calls for one request")
    if len(script.introspections) > calls:
        method, path, seen, form = script.introspections[calls]
        check((method, path) == ("POST", "/introspect"), f"introspection call: {method} {path}")
        check(form == "token=good%2B%2F%3D1&token_type_hint=access_token",
              f"introspection body: {form!r}")
        check(seen.get("content-length") == str(len(form)), f"introspection Content-Length: {seen}")
        check(seen.get("content-type") == "application/x-www-form-urlencoded",
              f"introspection Content-Type: {seen.get('content-type')}")
        check(seen.get("accept") == "application/json", f"introspection Accept: {seen.get('accept')}")
        check(seen.get("user-agent", "").startswith("jwtgate/"), f"introspection UA: {seen}")
        creds = "{}:{}".format(urllib.parse.quote_plus(INTRO_CLIENT_ID),
                               urllib.parse.quote_plus(INTRO_CLIENT_SECRET))
        want = "Basic " + base64.b64encode(creds.encode()).decode()
        check(seen.get("authorization") == want,
              f"introspection Authorization: {seen.get('authorization')}, want {want}")
        check("x-opaque-token" not in seen, "introspection: the client's headers reached the endpoint")

    for tok, want in [("gone", (401, "token_inactive")), ("noscope", (403, "claims_forbidden")),
                      ("boom", (401, "introspection_error")), ("junk", (401, "introspection_error")),
                      ("slow", (401, "introspection_error"))]:
        status, headers, _, took = get(port, f"/intro/{tok}", opaque(tok))
        check((status, reason(headers)) == want and result(headers) == "deny",
              f"introspection {tok}: {status} {reason(headers)} {result(headers)}, want {want} deny")
        check(took < 3.0, f"introspection {tok}: answered after {took:.1f} s")

    # Cached per worker: the same token three times on one connection asks once; a failure is
    # not cached (asked again).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    calls = len(script.introspections)
    got = []
    for t in ["good-cache", "good-cache", "good-cache", "boom", "boom"]:
        conn.request("GET", "/intro/cached", headers={"X-Opaque-Token": t})
        resp = conn.getresponse()
        resp.read()
        got.append(resp.status)
    conn.close()
    check(got == [200, 200, 200, 401, 401], f"introspection cache: {got}")
    check(len(script.introspections) == calls + 3,
          f"introspection cache: {len(script.introspections) - calls} calls, want 3 (1 + 2 failures)")

    # Concurrent requests with one token share the call in flight (one per worker at most).
    calls = len(script.introspections)
    shared = concurrently(8, lambda i: get(port, f"/intro/shared/{i}", opaque("good-slow-1")))
    statuses = [r if isinstance(r, Exception) else r[0] for r in shared]
    check(statuses == [200] * 8, f"introspection shared: {statuses}")
    check(1 <= len(script.introspections) - calls <= 2,
          f"introspection shared: {len(script.introspections) - calls} calls for 8 concurrent "
          "requests on 2 workers (want one per worker at most)")

    status, _, body, _ = get(port, "/metrics")
    m = {k: int(v) for k, v in (line.split(": ", 1) for line in body.decode().splitlines()
                                if ": " in line)}
    for name, least in {"jwtgate.introspection.intro.calls": 9,
                        "jwtgate.introspection.intro.active": 3,
                        "jwtgate.introspection.intro.inactive": 1,
                        "jwtgate.introspection.intro.errors.server_error": 3,
                        "jwtgate.introspection.intro.errors.not_json": 1,
                        "jwtgate.introspection.intro.cache_hits": 2,
                        "jwtgate.denied.token_inactive": 1,
                        "jwtgate.denied.introspection_error": 5}.items():
        check(m.get(name, 0) >= least, f"metrics: {name} = {m.get(name)}, want >= {least}")


def run(port, script, tmp, upstream):
    k1, jwk1 = new_key("k1")
    k2, jwk2 = new_key("k2")
    k3, _ = new_key("k3")  # never published
    script.jwks = {"keys": [jwk1]}
    k4, jwk4 = new_key("k4")
    script.oidc_jwks = {"keys": [jwk4]}

    # The internal locations are not reachable from outside.
    status, _, _, _ = get(port, "/_jwtgate/idp/keys")
    check(status == 404, f"/_jwtgate/idp/ from outside: {status}, want 404")
    check(script.fetches == 0, f"a client request reached the IdP: {script.fetches} fetches")

    # Cold start: concurrent requests on both workers wait for one fetch (one worker claims it in
    # the zone, the other adopts the copy), all accepted.
    script.jwks_delay = 0.5
    t1 = token(k1, "k1")
    cold = concurrently(16, lambda i: get(port, f"/cold/{i}", bearer(t1)))
    script.jwks_delay = 0.0
    ok = [r for r in cold if not isinstance(r, Exception) and r[0] == 200]
    check(len(ok) == 16, f"cold start: {[r if isinstance(r, Exception) else (r[0], reason(r[1])) for r in cold]}")
    check(script.fetches == 1,
          f"cold start: {script.fetches} fetches for 16 requests on 2 workers (want one, shared)")
    workers = {line.split()[0] for line in open(os.path.join(tmp, "access.log"))
               if " /cold/" in line}
    check(len(workers) == 2, f"cold start: the requests reached {len(workers)} worker(s), want both "
          "(reuseport spreads connections; 16 all on one worker has odds 2^-15)")
    if ok:
        line, seen = upstream_view(ok[0][2])
        check(values(seen, "x-jwt-payload") != [], "cold start: no claim header upstream")
        check(values(seen, "authorization") == [],
              "cold start: the token went upstream (forward: false removes it)")

    # What the fetch carried: who it is, never the client's credentials or headers.
    first = script.fetch_headers[0] if script.fetch_headers else {}
    check(first.get("user-agent", "").startswith("jwtgate/"), f"fetch User-Agent: {first}")
    check("authorization" not in first and "x-jwt-payload" not in first,
          f"the fetch carried the client's headers: {sorted(first)}")
    check("application/jwk-set+json" in first.get("accept", ""), f"fetch Accept: {first}")

    # Several workers share the fetched set: many new connections, no new fetch.
    before = script.fetches
    results = [get(port, f"/shared/{i}", bearer(t1))[0] for i in range(40)]
    check(results == [200] * 40, f"shared: statuses {sorted(set(results))}")
    check(script.fetches == before,
          f"shared: {script.fetches - before} more fetches for 40 requests (the zone must serve the other worker)")

    # A forged token (known kid, wrong key) is refused without a fetch.
    forged = token(k3, "k1")
    before = script.fetches
    status, headers, _, _ = get(port, "/forged", bearer(forged))
    check((status, reason(headers)) == (401, "invalid_signature"),
          f"forged: {status} {reason(headers)}")
    check(script.fetches == before, "forged: a bad signature triggered a fetch")

    # Rotation: the first token of a newly published key is accepted after one refetch.
    script.jwks = {"keys": [jwk1, jwk2]}
    before = script.fetches
    t2 = token(k2, "k2")
    status, headers, _, _ = get(port, "/rotated", bearer(t2))
    check(status == 200, f"rotation: new kid {status} {reason(headers)}")
    check(script.fetches - before in (1, 2), f"rotation: {script.fetches - before} refetches")

    # Unknown-kid flood: refused, fetches bounded (one per interval per worker).
    before = script.fetches
    flood = concurrently(30, lambda i: get(port, f"/flood/{i}", bearer(token(k3, f"rnd-{i}"))))
    statuses = sorted({r[0] if not isinstance(r, Exception) else str(r) for r in flood})
    check(statuses == [401], f"flood: statuses {statuses}")
    check(script.fetches - before <= 2, f"flood: {script.fetches - before} fetches for 30 unknown kids")
    # By now one worker has fetched a set the other had not: it was adopted from the zone.
    check("keys another worker fetched" in log_text(tmp),
          "shared: no worker adopted the other's key set from the zone (log)")

    # OIDC discovery: the document (derived from the issuer) names the JWKS; both through the
    # provider's cluster; one read for both workers.
    oidc_token = jwt.encode({"iss": OIDC_ISSUER, "sub": "olga", "exp": int(time.time()) + 600},
                            k4, algorithm="RS256", headers={"kid": "k4"})
    results = [get(port, f"/oidc/{i}", bearer(oidc_token))[0] for i in range(6)]
    check(results == [200] * 6, f"discovery: {results}")
    docs = script.other_paths.get("/.well-known/openid-configuration", 0)
    check(docs == 1, f"discovery: the document was read {docs} times, want once")
    check(script.other_paths.get("/oidc-keys", 0) == 1,
          f"discovery: the JWKS it names was fetched {script.other_paths.get('/oidc-keys', 0)} times")
    status, headers, _, _ = get(port, "/oidc/idp-token", bearer(t1))
    check((status, reason(headers)) == (401, "issuer_mismatch"),
          f"discovery: another issuer's token {status} {reason(headers)}")

    # A cluster without an internal location: refused, and nothing reached the echo upstream
    # under /_jwtgate/ (the check stops the subrequest before its content phase).
    lost = jwt.encode({"iss": "https://lost.test", "exp": int(time.time()) + 600}, k1,
                      algorithm="RS256", headers={"kid": "k1"})
    status, headers, _, took = get(port, "/lost/x", bearer(lost))
    check(status in (401, 503) and reason(headers) == "keys_unavailable",
          f"lost cluster: {status} {reason(headers)}, want keys_unavailable")
    check("did not reach an `internal` location" in log_text(tmp),
          "lost cluster: no log line naming the missing internal location")

    # ext_auth: allow (the service's header goes upstream, a client-sent copy never), deny,
    # unknown credentials, service errors, timeout, cache hits.
    calls = script.auth_calls
    status, headers, body, _ = get(port, "/ext/a?q=1", [("Authorization", "Key allow-1"),
                                                        ("X-User", "mallory")])
    check(status == 200, f"ext allow: {status} {reason(headers)}")
    if status == 200:
        line, seen = upstream_view(body)
        check(values(seen, "x-user") == ["alice"], f"ext allow: upstream x-user {values(seen, 'x-user')}")
        check(values(seen, "x-other") == [], "ext allow: a header not in allowed_upstream_headers went upstream")
    check(script.auth_calls == calls + 1, f"ext allow: {script.auth_calls - calls} calls")
    if script.auth_headers:
        path, seen = script.auth_headers[-1]
        check(path == "/check", f"ext: the service was asked at {path}, want /check")
        check(seen.get("x-original-uri") == "/ext/a?q=1" and seen.get("x-original-method") == "GET",
              f"ext: x-original-* {seen}")
        check("x-user" not in seen, "ext: the client's X-User reached the auth service")

    status, headers, _, _ = get(port, "/ext/b", [("Authorization", "Key deny")])
    check((status, reason(headers)) == (403, "ext_auth_forbidden"), f"ext deny: {status} {reason(headers)}")
    status, headers, _, _ = get(port, "/ext/c", [("Authorization", "Key unknown")])
    check((status, reason(headers)) == (401, "ext_auth_unauthorized"),
          f"ext unknown: {status} {reason(headers)}")
    check(values(headers, "www-authenticate") == ['Key realm="shop"'],
          f"ext unknown: challenge {values(headers, 'www-authenticate')}")
    status, headers, _, _ = get(port, "/ext/d", [("Authorization", "Key broken")])
    check((status, reason(headers)) == (500, "ext_auth_error"), f"ext 503 answer: {status} {reason(headers)}")
    status, headers, _, took = get(port, "/ext/e", [("Authorization", "Key slow")])
    check((status, reason(headers)) == (500, "ext_auth_error"), f"ext timeout: {status} {reason(headers)}")
    check(took < 3.0, f"ext timeout: answered after {took:.1f} s (timeout 1 s + the 1 s tick)")

    # HTTP/2: three streams of one connection parked on their auth calls at once, each woken
    # in its own stream (the stream's write event), each forwarded with its own answer.
    calls = script.auth_calls
    statuses = h2_requests(port + 1, [f"/ext/h2/{i}" for i in range(3)],
                           [("authorization", "Key allow-h2")])
    check(statuses == [200, 200, 200], f"HTTP/2 streams: {statuses}")
    # Three paths: three cache keys, three calls.
    check(script.auth_calls == calls + 3, f"HTTP/2: {script.auth_calls - calls} auth calls, want 3")

    # Cache hits: the same request twice on one connection (one worker) asks once.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    calls = script.auth_calls
    got = []
    for _ in range(3):
        conn.request("GET", "/ext/cached", headers={"Authorization": "Key allow-cache"})
        resp = conn.getresponse()
        resp.read()
        got.append(resp.status)
    conn.close()
    check(got == [200, 200, 200], f"ext cache: {got}")
    check(script.auth_calls == calls + 1, f"ext cache: {script.auth_calls - calls} calls for 3 requests")

    introspection(port, script)

    # A garbage answer keeps the last good set (a new kid asks for a refetch; k1 still works).
    script.jwks_mode = "garbage"
    time.sleep(5.2)  # past kid_refetch_interval
    before = script.fetches
    status, headers, _, _ = get(port, "/garbage/new-kid", bearer(token(k3, "k9")))
    check((status, reason(headers)) == (401, "key_not_found"),
          f"garbage: unknown kid {status} {reason(headers)}")
    check(script.fetches > before, "garbage: the unknown kid did not refetch")
    status, headers, _, _ = get(port, "/garbage/k1", bearer(t1))
    check(status == 200, f"garbage: the last good key was dropped: {status} {reason(headers)}")
    check("not_json" in log_text(tmp), "garbage: no log line with the failure reason not_json")

    # Outage: past cache_duration (10 s) the refresh fails; the last good set stays in use.
    script.jwks_mode = "error"
    time.sleep(max(0.0, 10.5 - 5.2))
    results = [get(port, f"/outage/{i}", bearer(t1))[0] for i in range(6)]
    time.sleep(1.2)
    results += [get(port, f"/outage/late/{i}", bearer(t1))[0] for i in range(6)]
    check(results == [200] * 12, f"outage: known key {results}")
    status, headers, _, _ = get(port, "/outage/forged", bearer(forged))
    check((status, reason(headers)) == (401, "invalid_signature"), f"outage: forged {status} {reason(headers)}")
    check("http_status" in log_text(tmp), "outage: no log line with the failed refresh (http_status)")

    # Recovery: the service is back; a request still answers from the set.
    script.jwks_mode = "ok"
    status, _, _, _ = get(port, "/recovered", bearer(t2))
    check(status == 200, f"recovered: {status}")
    check("panicked" not in log_text(tmp) and "[alert]" not in log_text(tmp),
          "an alert or panic in the error log")

    # The metrics of both workers, summed in the zone (`jwtgate_metrics;`).
    status, _, body, _ = get(port, "/metrics")
    check(status == 200, f"metrics: {status}")
    metrics = dict(line.split(": ", 1) for line in body.decode().splitlines() if ": " in line)
    m = {k: int(v) for k, v in metrics.items()}
    want_at_least = {
        "jwtgate.jwks.idp.fetch_success": 2,
        "jwtgate.jwks.idp.fetch_failed.not_json": 1,
        "jwtgate.jwks.idp.fetch_failed.http_status": 1,
        "jwtgate.jwks.idp.fetch_left_to_other_worker": 1,
        "jwtgate.jwks.idp.shared_adopted": 1,
        "jwtgate.jwks.oidc.discovered": 1,
        "jwtgate.jwks.lost.fetch_failed.no_response": 1,
        "jwtgate.denied.invalid_signature": 2,
        "jwtgate.denied.keys_unavailable": 1,
        "jwtgate.ext_auth.authz.errors.no_response": 1,
        "jwtgate.ext_auth.authz.errors.server_error": 1,
        "jwtgate.ext_auth.authz.denied": 2,
        "jwtgate.allowed": 16 + 40 + 2 + 6 + 3 + 3 + 12 + 2,
    }
    for name, least in want_at_least.items():
        check(m.get(name, 0) >= least, f"metrics: {name} = {m.get(name)}, want >= {least}")
    check(m.get("jwtgate.ext_auth.authz.cache_hits") == 2,
          f"metrics: cache_hits {m.get('jwtgate.ext_auth.authz.cache_hits')}, want 2")
    status, _, _, _ = get(port, "/metrics", [("Authorization", "Bearer x")])
    check(status == 200, "metrics: the location is not a jwtgate route (jwtgate off)")


if __name__ == "__main__":
    main()

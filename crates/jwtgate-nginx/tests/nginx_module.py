#!/usr/bin/env python3
"""The native module inside the installed /usr/sbin/nginx (Debian's stock package).

Usage: nginx_module.py MODULE.so CASES.json

Writes an nginx.conf into a temporary directory, starts `nginx -p DIR -c CONF` on 127.0.0.1 with
the module and a raw-socket upstream that answers with the exact request head it received (so
header removal is checked on the wire), then runs:
- every PyJWT corpus case (status, `error=` in WWW-Authenticate, upstream headers and absences);
- spoofed managed headers in every spelling (none may reach the upstream);
- the variables $jwtgate_result / $jwtgate_reason / $jwtgate_claim_<name> (add_header,
  proxy_set_header, access_log; nested, non-string, missing claims; refused tokens);
- the corpus' PEM configuration with its keys read from files (pem_file, secret_file);
- broken configurations (`nginx -t` fails and names the field);
- `nginx -s reload` with a changed configuration file (and one with a broken file: the old
  configuration stays).
Never skips: a missing nginx fails.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "corpus"))
import gen  # noqa: E402  (PyJWT and the corpus' keys: tokens with more claims)

NGINX = "/usr/sbin/nginx"
FAILURES = []
PASSED = [0]


def check(cond, what):
    if cond:
        PASSED[0] += 1
    else:
        FAILURES.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    """Answers every request with the request head it received, byte for byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(conn,), daemon=True).start()

    def one(self, conn):
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0]
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(head) + head)


def http(port, path, headers, method="GET"):
    """A raw HTTP/1.1 request (exact header spellings, duplicates, raw path bytes)."""
    req = b"%s %s HTTP/1.1\r\nConnection: close\r\n" % (
        method.encode(), path.encode("utf-8", "surrogateescape"))
    if not any(name.lower() == "host" for name, _ in headers):
        req += b"Host: localhost\r\n"
    for name, value in headers:
        req += name.encode() + b": " + value.encode("utf-8", "surrogateescape") + b"\r\n"
    req += b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    resp_headers = [tuple(x.split(": ", 1)) for x in lines[1:] if ": " in x]
    return status, resp_headers, body


def upstream_view(body):
    """(request line, [(name, value)]) of what the upstream received."""
    lines = body.decode("latin-1").split("\r\n")
    return lines[0], [tuple(x.split(": ", 1)) for x in lines[1:] if ": " in x]


def values(headers, name):
    return [v for n, v in headers if n.lower() == name.lower()]


class Nginx:
    """Debian's nginx with the module in a temporary prefix (also used by nginx_remote.py)."""

    def __init__(self, module, tmp, workers=1, log_level="info"):
        self.module = module
        self.tmp = tmp
        self.conf = os.path.join(tmp, "nginx.conf")
        self.proc = None
        self.workers = workers
        self.log_level = log_level

    def write(self, http_body):
        with open(self.conf, "w") as f:
            f.write(f"""
load_module {self.module};
daemon off;
master_process on;
worker_processes {self.workers};
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/error.log {self.log_level};
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {self.tmp}/body;
    proxy_temp_path {self.tmp}/proxy;
    fastcgi_temp_path {self.tmp}/fastcgi;
    uwsgi_temp_path {self.tmp}/uwsgi;
    scgi_temp_path {self.tmp}/scgi;
    underscores_in_headers on;
    # The corpus' oversized tokens (> max_token_bytes) must reach jwtgate: NGINX's default
    # 8k header buffer would answer 400 itself.
    large_client_header_buffers 4 128k;
{http_body}
}}
""")

    def test(self):
        p = subprocess.run([NGINX, "-t", "-p", self.tmp, "-c", self.conf],
                           capture_output=True, text=True)
        return p.returncode, p.stderr

    def start(self, ports):
        rc, err = self.test()
        if rc != 0:
            raise SystemExit(f"nginx -t failed:\n{err}")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.proc = subprocess.Popen([NGINX, "-p", self.tmp, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "w"))
        deadline = time.time() + 10
        for port in ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.time() > deadline:
                        raise SystemExit("nginx did not start:\n" + open(self.stderr_path).read())
                    time.sleep(0.05)

    def reload(self):
        return subprocess.run([NGINX, "-p", self.tmp, "-c", self.conf, "-s", "reload"],
                              capture_output=True, text=True)

    def stop(self):
        """SIGQUIT (graceful); False when nginx had to be killed after 10 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return False
        return True


def server(port, config_file, upstream, extra=""):
    return f"""
    server {{
        listen 127.0.0.1:{port};
        jwtgate_config_file {config_file};
        {extra}
        add_header X-Jwtgate-Result $jwtgate_result always;
        add_header X-Jwtgate-Reason $jwtgate_reason always;
        location / {{ proxy_pass http://127.0.0.1:{upstream}; }}
    }}
"""


def corpus_cases(corpus, port_of, only=None):
    for case in corpus["cases"]:
        if only and case["config"] != only:
            continue
        name = case["name"] + (f" (from files)" if only else "")
        req = case["request"]
        port = port_of[(case["config"], case.get("now", corpus["now"]))]
        status, headers, body = http(port, req["path"], [tuple(h) for h in req["headers"]],
                                     req["method"])
        expect = case["expect"]
        want = expect["status"]
        check(status == want, f"{name}: status {status}, want {want} "
              f"(reason {values(headers, 'x-jwtgate-reason')})")
        if status != want:
            continue
        if isinstance(expect.get("error"), str):
            challenge = " ".join(values(headers, "www-authenticate"))
            check(f'error="{expect["error"]}"' in challenge,
                  f"{name}: no error={expect['error']} in {challenge!r}")
        if want == 200 and values(headers, "content-type") == ["application/octet-stream"]:
            line, seen = upstream_view(body)
            for n, v in (expect.get("upstream_headers") or {}).items():
                if n == ":path":
                    got = line.split(" ")[1]
                    check(got == v, f"{name}: upstream request target {got!r}, want {v!r}")
                    continue
                check(values(seen, n) == [v], f"{name}: upstream {n} = {values(seen, n)}, want [{v!r}]")
            for n in expect.get("upstream_absent") or []:
                check(not values(seen, n), f"{name}: upstream still has {n}: {values(seen, n)}")
        elif want == 200:
            check(False, f"{name}: 200 without the upstream's echo")


def binding_cases(binding, ports):
    """The DPoP / mTLS-binding corpus (PyJWT + cryptography proofs): every step in order on its
    configuration's server (replays need the same worker: one worker here), status and reason.
    Requests go over plain HTTP/1.1, so `:scheme` is `http`: the configurations that say
    `dpop.scheme: https` stand for a TLS-terminating proxy in front."""
    n = 0
    for case in binding["cases"]:
        port = ports[case["config"]]
        for i, step in enumerate(case["steps"]):
            req, expect = step["request"], step["expect"]
            headers = [tuple(h) for h in req["headers"] if not h[0].startswith(":")]
            status, got, _ = http(port, req["path"], headers, req["method"])
            why = ",".join(values(got, "x-jwtgate-reason"))
            want_reason = expect.get("reason") or ""
            check(status == expect["status"] and why == want_reason,
                  f"binding {case['name']} step {i}: {status} {why!r}, want {expect['status']} {want_reason!r}")
            n += 1
    print(f"binding (DPoP, mTLS): {len(binding['cases'])} cases, {n} requests")


def tls_material(tmp):
    """A server certificate and two client certificates (self-signed, made here with
    `cryptography`), as files, and the clients' SHA-256 over DER."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    out = {}
    for name in ("server", "alice", "mallory"):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        cert_path, key_path = os.path.join(tmp, f"{name}.crt"), os.path.join(tmp, f"{name}.key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        out[f"{name}_cert"], out[f"{name}_key"] = cert_path, key_path
        out[f"{name}_x5t"] = gen.b64u(hashlib.sha256(
            cert.public_bytes(serialization.Encoding.DER)).digest())
    return out


def tls_get(port, client, token):
    """GET / over TLS, presenting `client`'s certificate (or none): (status, reason)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client:
        ctx.load_cert_chain(client[0], client[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                      b"Authorization: Bearer " + token.encode() + b"\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = [tuple(x.split(": ", 1)) for x in head[1:] if ": " in x]
    return int(head[0].split()[1]), ",".join(values(headers, "x-jwtgate-reason"))


def connection_binding(corpus, port, tls):
    """RFC 8705 with the certificate from NGINX's TLS connection: the token's cnf.x5t#S256
    against the SHA-256 of the client certificate the connection presented."""
    def bound(x5t):
        return gen.token("HS256", {"iss": "https://issuer.test", "aud": "api", "sub": "alice",
                                   "exp": corpus["now"] + 300, "cnf": {"x5t#S256": x5t}},
                         headers={"kid": "k-HS256"})
    alice = (tls["alice_cert"], tls["alice_key"])
    mallory = (tls["mallory_cert"], tls["mallory_key"])
    token = bound(tls["alice_x5t"])
    for client, want, what in ((alice, (200, ""), "the bound certificate"),
                               (mallory, (401, "mtls_binding_mismatch"), "another certificate"),
                               (None, (401, "mtls_certificate_missing"), "no certificate")):
        got = tls_get(port, client, token)
        check(got == want, f"connection binding, {what}: {got}, want {want}")
    print("certificate-bound tokens over TLS (certificate_from: connection): checked")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    module, cases_path = os.path.abspath(sys.argv[1]), sys.argv[2]
    for need in (NGINX, module, cases_path):
        if not os.path.exists(need):
            raise SystemExit(f"FAIL: {need} is missing (apt-get install nginx nginx-dev; "
                             "make nginx-module; make corpus)")
    corpus = json.load(open(cases_path))
    tmp = tempfile.mkdtemp(prefix="jwtgate-nginx-")
    upstream = Upstream()
    nginx = Nginx(module, tmp)
    try:
        run(corpus, tmp, upstream, nginx)
    finally:
        nginx.stop()
        if FAILURES:
            print(f"(nginx prefix kept: {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"nginx module: {PASSED[0]} checks passed, {len(FAILURES)} failed")
    for f in FAILURES:
        print("  FAIL", f)
    sys.exit(1 if FAILURES else 0)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)
    return path


def claim_variables(corpus, port, log_path):
    """$jwtgate_claim_<name> in add_header, proxy_set_header and access_log."""
    now = corpus["now"]
    token = gen.token("HS256", gen.claims(isAdmin=True, org={"Name": "acme", "Id": 7},
                                          note=" padded"))
    bearer = [("Authorization", f"Bearer {token}")]
    status, headers, body = http(port, "/api/x?a=1", bearer)
    want = {"x-claim-sub": ["alice"], "x-claim-roles": ["user,admin"],
            "x-claim-realm": ['{"roles":["user","admin"]}'], "x-claim-iat": [str(now - 10)],
            "x-claim-admin": ["true"], "x-claim-org": ["acme/7"], "x-claim-missing": ["[]"],
            "x-claim-unsafe": ["[]"], "x-jwtgate-result": ["allow"]}
    check(status == 200, f"claim variables: status {status} {headers}")
    for name, value in want.items():
        check(values(headers, name) == value,
              f"claim variables: {name} = {values(headers, name)}, want {value}")
    if status == 200:
        _, seen = upstream_view(body)
        check(values(seen, "x-up-sub") == ["alice"] and values(seen, "x-up-roles") == ["user,admin"],
              f"claim variables in proxy_set_header: upstream saw {seen}")
    # Refused: every claim variable is empty, whatever the token says.
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}AAAA"
    for what, hdrs, reason in (("no token", [], "missing_token"),
                               ("forged token", [("Authorization", f"Bearer {forged}")],
                                "invalid_signature")):
        status, headers, _ = http(port, "/api/y", hdrs)
        check(status == 401 and values(headers, "x-jwtgate-reason") == [reason],
              f"claim variables, {what}: {status}, reason {values(headers, 'x-jwtgate-reason')}")
        check(not values(headers, "x-claim-sub") and not values(headers, "x-claim-roles")
              and values(headers, "x-claim-missing") == ["[]"],
              f"claim variables, {what}: not empty on a refusal: {headers}")
    # An open route: allowed, no token verified, so no claims (and no X-Up-Sub upstream).
    status, headers, body = http(port, "/open/z", bearer)
    check(status == 200 and values(headers, "x-jwtgate-result") == ["allow"]
          and not values(headers, "x-claim-sub"), f"claim variables, open route: {status} {headers}")
    if status == 200:
        check(not values(upstream_view(body)[1], "x-up-sub"),
              "claim variables, open route: X-Up-Sub reached the upstream")
    # access_log: written when each request ends.
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline and len(lines) < 4:
        lines = open(log_path).read().splitlines() if os.path.exists(log_path) else []
        time.sleep(0.05)
    want_lines = [
        "uri=/api/x?a=1 sub=alice roles=user,admin result=allow reason=",
        "uri=/api/y sub=- roles=- result=deny reason=missing_token",
        "uri=/api/y sub=- roles=- result=deny reason=invalid_signature",
        "uri=/open/z sub=- roles=- result=allow reason=",
    ]
    check(lines == want_lines, f"claim variables in access_log: {lines}, want {want_lines}")
    print("claim variables: checked")


def run(corpus, tmp, upstream, nginx):
    # --- broken configurations: nginx -t fails and names the field -----------------------------
    broken = {
        "short_secret": ({"providers": {"p": {"keys": [{"alg": "HS256", "secret": "short"}]}}},
                         "providers.p.keys[0]"),
        "unknown_field": ({"providers": {}, "rulez": []}, "rulez"),
        "bad_json": ("{", "invalid JSON"),
        # A cluster names the internal location /_jwtgate/<cluster>/ natively: one path segment.
        "remote_jwks_cluster": ({"providers": {"idp": {"remote_jwks": {"http_uri": {
            "uri": "https://idp.example/jwks", "cluster": "idp/jwks", "timeout": "1s"}}}}},
            "providers.idp.remote_jwks.http_uri.cluster: `idp/jwks`"),
        "ext_auth_cluster": ({"ext_auth": {"authz": {"http_uri": {
            "uri": "http://auth.example/check", "cluster": "auth?x", "timeout": "1s"}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}]},
            "ext_auth.authz.http_uri.cluster: `auth?x`"),
        "missing_file": (None, "cannot read"),
        "jwks_file_missing": ({"providers": {"p": {"local_jwks": {"filename": "absent.jwks"}}}},
                              "providers.p.local_jwks.filename: cannot read"),
        "pem_file_missing": ({"providers": {"p": {"keys": [{"alg": "RS256", "pem_file": "absent.pem"}]}}},
                             "providers.p.keys[0].pem_file: cannot read"),
        "secret_file_missing": ({"providers": {"p": {"keys": [
            {"alg": "HS256", "secret": "x" * 32}, {"alg": "HS256", "secret_file": "absent.key"}]}}},
            "providers.p.keys[1].secret_file: cannot read"),
    }
    for name, (config, needle) in broken.items():
        path = os.path.join(tmp, f"broken-{name}.json")
        if isinstance(config, str):
            open(path, "w").write(config)
        elif config is not None:
            write_json(path, config)
        nginx.write(server(free_port(), path, upstream.port))
        rc, err = nginx.test()
        check(rc != 0 and needle in err and path in err,
              f"broken config {name}: nginx -t rc={rc}, want failure naming {needle!r}:\n{err}")
        if name == "short_secret":
            print("nginx -t with a broken configuration says:\n  " + err.strip().replace("\n", "\n  "))
    nginx.write("""
    server { listen 127.0.0.1:1; jwtgate on; location / { return 204; } }
""")
    rc, err = nginx.test()
    check(rc != 0 and "jwtgate_config_file" in err, f"jwtgate on without a file: rc={rc} {err}")

    # --- one server per (configuration, clock) of the corpus -----------------------------------
    port_of = {}
    servers = []
    for case in corpus["cases"]:
        key = (case["config"], case.get("now", corpus["now"]))
        if key not in port_of:
            port_of[key] = free_port()
            path = write_json(os.path.join(tmp, f"{key[0]}.json"), corpus["configs"][key[0]])
            servers.append(server(port_of[key], path, upstream.port,
                                  f"jwtgate_test_clock {key[1]};"))
    # Spoofing, variables, `jwtgate off`, reload.
    spoof_port = free_port()
    spoof_conf = write_json(os.path.join(tmp, "spoof.json"), {
        **corpus["configs"]["pem"],
        "rules": [{"match": {"prefix": "/open/"}},
                  {"match": {"prefix": "/"}, "requires": {"provider_name": "hs256"}}]})
    servers.append(server(spoof_port, spoof_conf, upstream.port,
                          f"jwtgate_test_clock {corpus['now']};") .replace(
        "location / {", "location /off/ { jwtgate off; proxy_pass http://127.0.0.1:%d; }\n"
        "        location / {" % upstream.port))
    # The corpus' JWKS configuration again, each key set read from a file (local_jwks.filename).
    files_config = json.loads(json.dumps(corpus["configs"]["jwks"]))
    for name, provider in files_config["providers"].items():
        if "inline_string" in provider.get("local_jwks", {}):
            write_json(os.path.join(tmp, f"jwks-{name}.json"), json.loads(provider["local_jwks"]["inline_string"]))
            provider["local_jwks"] = {"filename": f"jwks-{name}.json"}
    files_ports = {}
    for (config, now) in list(port_of):
        if config == "jwks":
            files_ports[(config, now)] = free_port()
            servers.append(server(files_ports[(config, now)],
                                  write_json(os.path.join(tmp, "jwks-files.json"), files_config),
                                  upstream.port, f"jwtgate_test_clock {now};"))
    # The corpus' PEM configuration again, every key read from a file (pem_file, secret_file;
    # secrets with a trailing newline, which is dropped).
    keyfiles_config = json.loads(json.dumps(corpus["configs"]["pem"]))
    n_files = 0
    for name, provider in keyfiles_config["providers"].items():
        for i, key in enumerate(provider.get("keys", [])):
            for field, suffix, tail in (("pem", "pem", ""), ("secret", "key", "\n")):
                if field in key:
                    fname = f"key-{name}-{i}.{suffix}"
                    with open(os.path.join(tmp, fname), "w") as f:
                        f.write(key.pop(field) + tail)
                    key[f"{field}_file"] = fname
                    n_files += 1
    keyfiles_ports = {}
    for (config, now) in list(port_of):
        if config == "pem":
            keyfiles_ports[(config, now)] = free_port()
            servers.append(server(keyfiles_ports[(config, now)],
                                  write_json(os.path.join(tmp, "pem-files.json"), keyfiles_config),
                                  upstream.port, f"jwtgate_test_clock {now};"))
    # Claim variables.
    claims_port = free_port()
    claims_conf = write_json(os.path.join(tmp, "claims.json"), {
        "providers": {"hs256": corpus["configs"]["pem"]["providers"]["hs256"]},
        "rules": [{"match": {"prefix": "/open/"}},
                  {"match": {"prefix": "/"}, "requires": {"provider_name": "hs256"}}]})
    claims_log = os.path.join(tmp, "claims.log")
    servers.append(f"""
    log_format jwtgate_claims 'uri=$request_uri sub=$jwtgate_claim_sub roles=$jwtgate_claim_realm_access__roles result=$jwtgate_result reason=$jwtgate_reason';
    server {{
        listen 127.0.0.1:{claims_port};
        jwtgate_config_file {claims_conf};
        jwtgate_test_clock {corpus['now']};
        access_log {claims_log} jwtgate_claims;
        add_header X-Claim-Sub $jwtgate_claim_sub always;
        add_header X-Claim-Roles $jwtgate_claim_realm_access__roles always;
        add_header X-Claim-Realm $jwtgate_claim_realm_access always;
        add_header X-Claim-Iat $jwtgate_claim_iat always;
        add_header X-Claim-Admin $jwtgate_claim_isadmin always;
        add_header X-Claim-Org "$jwtgate_claim_org__name/$jwtgate_claim_org__id" always;
        add_header X-Claim-Missing "[$jwtgate_claim_nope]" always;
        add_header X-Claim-Unsafe "[$jwtgate_claim_note]" always;
        add_header X-Jwtgate-Result $jwtgate_result always;
        add_header X-Jwtgate-Reason $jwtgate_reason always;
        location / {{
            proxy_set_header X-Up-Sub $jwtgate_claim_sub;
            proxy_set_header X-Up-Roles $jwtgate_claim_realm_access__roles;
            proxy_pass http://127.0.0.1:{upstream.port};
        }}
    }}
""")
    # Behaviour: redirects, HEAD, internal redirects, satisfy any, path normalization.
    behave_port = free_port()
    hs256 = corpus["configs"]["pem"]["providers"]["hs256"]
    behave_conf = write_json(os.path.join(tmp, "behave.json"), {
        "providers": {"hs256": hs256},
        "path_policy": {"path_parameters": "strip"},
        "rules": [
            {"match": {"prefix": "/login/"}, "requires": {"provider_name": "hs256"},
             "failure_response": {"redirect": {"url": "/signin", "param": "next"}}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "hs256"}}]})
    servers.append(f"""
    server {{
        listen 127.0.0.1:{behave_port};
        jwtgate_config_file {behave_conf};
        jwtgate_test_clock {corpus['now']};
        add_header X-Saw-Authorization "$http_authorization" always;
        add_header X-Jwtgate-Result $jwtgate_result always;
        location / {{ proxy_pass http://127.0.0.1:{upstream.port}; }}
        location /redirected/ {{ try_files /nonexistent @named; }}
        location @named {{ proxy_pass http://127.0.0.1:{upstream.port}; }}
        location /any/ {{ satisfy any; allow all; proxy_pass http://127.0.0.1:{upstream.port}; }}
        location /pfx/ {{ proxy_pass http://127.0.0.1:{upstream.port}/inner/; }}
        location "/legacy;v=1/" {{ proxy_pass http://127.0.0.1:{upstream.port}/inner/; }}
    }}
""")
    # DPoP and certificate-bound tokens (the corpus' `binding` section), one server each.
    binding = corpus["binding"]
    binding_ports = {}
    for name, config in binding["configs"].items():
        binding_ports[name] = free_port()
        servers.append(server(binding_ports[name],
                              write_json(os.path.join(tmp, f"binding-{name}.json"), config),
                              upstream.port, f"jwtgate_test_clock {corpus['now']};"))
    # Tokens bound to the TLS connection's client certificate (certificate_from: connection).
    tls_port = free_port()
    tls = tls_material(tmp)
    tls_conf = write_json(os.path.join(tmp, "tls-binding.json"), {
        "providers": {"hs256": {**hs256, "mtls_binding": {"required": True,
                                                           "certificate_from": "connection"}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "hs256"}}]})
    servers.append(f"""
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {tls['server_cert']};
        ssl_certificate_key {tls['server_key']};
        ssl_verify_client optional_no_ca;
        jwtgate_config_file {tls_conf};
        jwtgate_test_clock {corpus['now']};
        add_header X-Jwtgate-Reason $jwtgate_reason always;
        location / {{ proxy_pass http://127.0.0.1:{upstream.port}; }}
    }}
""")
    reload_port = free_port()
    reload_conf = os.path.join(tmp, "reload.json")
    protected = {**corpus["configs"]["pem"],
                 "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "hs256"}}]}
    write_json(reload_conf, protected)
    servers.append(server(reload_port, reload_conf, upstream.port))
    nginx.write("".join(servers))
    rc, err = nginx.test()
    print(f"nginx -t with {len(servers)} servers: rc={rc}: " + err.strip().splitlines()[-1])
    nginx.start(list(port_of.values()) + list(files_ports.values())
                + list(keyfiles_ports.values()) + list(binding_ports.values())
                + [spoof_port, reload_port, behave_port, claims_port, tls_port])

    corpus_cases(corpus, port_of)
    print(f"corpus: {len(corpus['cases'])} cases")
    check(len(files_ports) > 0, "no corpus case uses the jwks configuration")
    corpus_cases(corpus, files_ports, only="jwks")
    print(f"corpus, key sets from files: {sum(c['config'] == 'jwks' for c in corpus['cases'])} cases")
    check(len(keyfiles_ports) > 0 and n_files > 0, "no corpus case uses the pem configuration")
    corpus_cases(corpus, keyfiles_ports, only="pem")
    print(f"corpus, {n_files} PEM and secret files: "
          f"{sum(c['config'] == 'pem' for c in corpus['cases'])} cases")
    claim_variables(corpus, claims_port, claims_log)
    binding_cases(binding, binding_ports)
    connection_binding(corpus, tls_port, tls)

    # --- managed headers in every spelling never reach the upstream ----------------------------
    valid = next(c for c in corpus["cases"] if c["name"] == "pem_hs256_valid_kid")
    token_header = tuple(valid["request"]["headers"][0])
    spellings = ["X-Jwt-Sub", "x-jwt-sub", "x_jwt_sub", "X_JWT_SUB", "x-jwt_sub", "X-JWT-SUB"]
    spoofed = [(s, "mallory") for s in spellings] + [("x-jwt-roles", "admin"), ("X_Jwt_Roles", "root")]
    for path, token, what in [("/hs256/x", [token_header], "protected"),
                              ("/open/x", [], "open route"),
                              ("/open/x", [token_header], "open route with token"),
                              ("/off/x", [], "jwtgate off")]:
        status, headers, body = http(spoof_port, path, token + spoofed)
        check(status == 200, f"spoof {what}: status {status}")
        if status != 200:
            continue
        line, seen = upstream_view(body)
        names = [n.lower().replace("_", "-") for n, _ in seen]
        if what == "jwtgate off":
            check(names.count("x-jwt-sub") == len(spellings),
                  f"jwtgate off: the request must pass untouched: {seen}")
            check(values(headers, "x-jwtgate-result") in ([], [""]),
                  f"jwtgate off: $jwtgate_result = {values(headers, 'x-jwtgate-result')}")
            continue
        want_sub = ["alice"] if what == "protected" else []
        check([v for n, v in seen if n.lower().replace("_", "-") == "x-jwt-sub"] == want_sub,
              f"spoof {what}: upstream x-jwt-sub spellings {[(n, v) for n, v in seen if 'jwt' in n.lower()]}")
        check("mallory" not in body.decode("latin-1") and "root" not in body.decode("latin-1"),
              f"spoof {what}: a spoofed value reached the upstream: {seen}")
        check(not values(seen, "authorization") or what == "open route with token",
              f"spoof {what}: authorization forwarded: {seen}")
        check(values(headers, "x-jwtgate-result") == ["allow"],
              f"spoof {what}: $jwtgate_result = {values(headers, 'x-jwtgate-result')}")
    status, headers, _ = http(spoof_port, "/hs256/x", [])
    check(status == 401 and values(headers, "x-jwtgate-result") == ["deny"]
          and values(headers, "x-jwtgate-reason") == ["missing_token"],
          f"variables on a refusal: {status} {headers}")
    check(values(headers, "content-type") == ["application/json"]
          and values(headers, "cache-control") == ["no-store"],
          f"refusal headers: {headers}")
    # A token in the query string is removed from the request line the upstream gets.
    qconf = corpus["configs"]["sources"]
    qcase = next((c for c in corpus["cases"] if c["config"] == "sources"
                  and "access_token" in c["request"]["path"] and c["expect"]["status"] == 200), None)
    if qcase:
        status, _, body = http(port_of[("sources", qcase.get("now", corpus["now"]))],
                               qcase["request"]["path"], [tuple(h) for h in qcase["request"]["headers"]])
        line, _ = upstream_view(body)
        check(status == 200 and "access_token" not in line,
              f"query token: upstream request line {line!r}")
    del qconf

    # --- behaviour -------------------------------------------------------------------------
    status, headers, body = http(behave_port, "/login/page?x=1", [])
    # NGINX makes a relative Location absolute (absolute_redirect on).
    check(status == 302 and len(values(headers, "location")) == 1
          and values(headers, "location")[0].endswith("/signin?next=%2Flogin%2Fpage%3Fx%3D1"),
          f"failure_response redirect: {status} {headers}")
    status, headers, body = http(behave_port, "/x", [], method="HEAD")
    check(status == 401 and body == b"" and values(headers, "www-authenticate"),
          f"HEAD refusal: {status} {headers} {body!r}")
    status, headers, body = http(behave_port, "/x", [token_header])
    check(status == 200 and values(headers, "x-saw-authorization") in ([], [""]),
          f"$http_authorization after removal: {values(headers, 'x-saw-authorization')}")
    status, headers, body = http(behave_port, "/redirected/x", [token_header])
    check(status == 200 and values(upstream_view(body)[1], "x-jwt-sub") == ["alice"],
          f"internal redirect with the same configuration: {status} {body[:200]!r}")
    status, headers, body = http(behave_port, "/redirected/x", [])
    check(status == 401, f"internal redirect without a token: {status}")
    status, headers, _ = http(behave_port, "/any/x", [])
    check(status == 401, f"satisfy any + allow all must not pass a refusal: {status}")
    status, headers, body = http(behave_port, "/a;jsessionid=1/b?q=1", [token_header])
    check(status == 200 and upstream_view(body)[0].split(" ")[1] == "/a/b?q=1",
          f"strip path parameters: upstream {upstream_view(body)[0] if status == 200 else status}")
    status, headers, body = http(behave_port, "/pfx/a;s=1/b?q=1", [token_header])
    check(status == 200 and upstream_view(body)[0].split(" ")[1] == "/inner/a/b?q=1",
          f"strip + proxy_pass with a URI: {upstream_view(body)[0] if status == 200 else status}")
    status, _, _ = http(behave_port, "/legacy;v=1/x", [token_header])
    check(status == 500, f"a normalized path that leaves its prefix location: {status}, want 500")
    status, headers, body = http(behave_port, "/caf\udcc3\udca9/%41", [token_header])
    check(status == 200, f"raw UTF-8 path bytes: {status}")
    print("behaviour: checked")

    # --- reload with a changed file ------------------------------------------------------------
    status, _, _ = http(reload_port, "/x", [])
    check(status == 401, f"before reload: {status}")
    write_json(reload_conf, {**protected, "rules": [{"match": {"prefix": "/"}}]})
    r = nginx.reload()
    check(r.returncode == 0, f"reload: {r.stderr}")
    # The old worker answers until the master tells it to quit after starting the new one:
    # wait for five answers in a row from the new configuration.
    deadline, in_a_row = time.time() + 10, 0
    while time.time() < deadline and in_a_row < 5:
        in_a_row = in_a_row + 1 if http(reload_port, "/x", [])[0] == 200 else 0
        time.sleep(0.05)
    check(http(reload_port, "/x", [])[0] == 200, "after reload: the open configuration is not used")
    open(reload_conf, "w").write('{"rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "nope"}}]}')
    # `nginx -s reload` parses the configuration itself: a broken file stops it there (no
    # signal is sent) and the running configuration stays.
    r = nginx.reload()
    check(r.returncode != 0 and "rules[0].requires.provider_name" in r.stderr,
          f"reload with a broken file: rc={r.returncode} {r.stderr}")
    os.kill(int(open(os.path.join(tmp, "nginx.pid")).read()), signal.SIGHUP)
    time.sleep(1)
    log = open(os.path.join(tmp, "error.log")).read() + open(nginx.stderr_path).read()
    check("provider_name" in log, "SIGHUP with a broken file: the error is not logged")
    check(http(reload_port, "/x", [])[0] == 200, "reload with a broken file: the old configuration must stay")
    print("reload: checked")


if __name__ == "__main__":
    main()

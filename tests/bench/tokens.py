#!/usr/bin/env python3
"""Benchmark inputs and the OpenSSL baseline, in one run.

    tokens.py OUT.json [N]

Writes, per algorithm (HS256, RS256, ES256, EdDSA, and the rest of the 13), a jwtgate provider
and N distinct tokens made by PyJWT, plus the median µs of one signature verification by OpenSSL
(through `cryptography`) on this machine: the native number jwtgate's wasm timings are compared
with.
"""
import json
import os
import statistics
import sys
import time

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus"))
import gen  # noqa: E402  (the corpus' keys and helpers)

NOW = gen.NOW


def openssl_verify_us(alg, key, tok):
    """Median µs of one verification by OpenSSL of `tok` (signature only)."""
    head, payload, sig = tok.split(".")
    msg = f"{head}.{payload}".encode()
    raw = gen.b64u_decode(sig)
    if alg.startswith("HS"):
        import hmac, hashlib
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        fn = lambda: hmac.compare_digest(hmac.new(key, msg, digest).digest(), raw)
    else:
        algo = jwt.algorithms.get_default_algorithms()[alg]
        pub = algo.prepare_key(key.public_key())
        fn = lambda: algo.verify(msg, pub, raw)
    assert fn()
    samples = []
    for _ in range(7):
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(samples)


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    result = {"now": NOW, "algs": {}}
    for alg in gen.ALGS:
        key = gen.private_key(alg)
        provider = gen.provider(alg, "pem")
        tokens = [gen.token(alg, gen.claims(sub=f"user-{i}", jti=f"{alg}-{i}")) for i in range(n)]
        result["algs"][alg] = {"provider": provider, "tokens": tokens,
                               "openssl_us": openssl_verify_us(alg, key, tokens[0])}
        print(f"{alg}: OpenSSL {result['algs'][alg]['openssl_us']:.1f} µs/verify")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()

"""The CLI's keygen and mint, checked by an independent implementation (PyJWT + cryptography):
every key jwtgate keygen writes loads in `cryptography`, its JWKS loads in PyJWT, and every
token jwtgate mint signs verifies with PyJWT against that JWKS, with the claims asked for.

usage: check_cli.py path/to/jwtgate
"""
import json
import os
import subprocess
import sys
import tempfile

import jwt
from cryptography.hazmat.primitives import serialization

ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA"]


def run(*args):
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {out.stderr}")
    return out.stdout


def main():
    cli = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        for alg in ALGS:
            kid = alg.lower()
            run(cli, "keygen", "--alg", alg, "--kid", kid, "--out", d)
            if alg.startswith("HS"):
                key_file = os.path.join(d, kid + ".secret")
                with open(key_file) as f:
                    verify_key = f.read().strip().encode()
            else:
                key_file = os.path.join(d, kid + ".pem")
                with open(key_file, "rb") as f:
                    serialization.load_pem_private_key(f.read(), password=None)  # loads
                with open(os.path.join(d, kid + ".jwks.json")) as f:
                    jwk = json.load(f)["keys"][0]
                assert jwk["kid"] == kid and jwk["alg"] == alg, jwk
                verify_key = jwt.PyJWK(jwk).key
            token = run(cli, "mint", "--alg", alg, "--key", key_file, "--kid", kid,
                        "--iss", "https://minted.test", "--aud", "api", "--sub", "alice",
                        "--claim", "roles=[\"admin\"]", "--exp", "10m").strip()
            claims = jwt.decode(token, verify_key, algorithms=[alg], audience="api",
                                issuer="https://minted.test")
            assert claims["sub"] == "alice" and claims["roles"] == ["admin"], claims
            assert claims["exp"] - claims["iat"] == 600, claims
            assert jwt.get_unverified_header(token)["kid"] == kid
        # keygen never overwrites without --force, and private keys are owner-only (0600).
        again = subprocess.run([cli, "keygen", "--alg", "ES256", "--kid", "es256", "--out", d],
                               capture_output=True, text=True)
        assert again.returncode == 1 and "--force" in again.stderr, again
        if os.name == "posix":
            for name in ("es256.pem", "hs256.secret"):
                mode = os.stat(os.path.join(d, name)).st_mode & 0o777
                assert mode == 0o600, f"{name}: {oct(mode)}"
    print(f"jwtgate keygen + mint: {len(ALGS)} algorithms verified by PyJWT {jwt.__version__}")


if __name__ == "__main__":
    main()

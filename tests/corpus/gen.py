#!/usr/bin/env python3
"""Writes the jwtgate token corpus: tokens made by PyJWT + cryptography (an implementation
independent of jwtgate), jwtgate configurations, and the outcome each request must have.

    gen.py OUT.json          write the corpus (keys from tests/corpus/keys/)
    gen.py --new-keys        regenerate the committed test-only keys
    gen.py --rsa-fixture     regenerate crates/jwtgate-rsa/tests/openssl_signatures.json

Claims are deterministic and the host clock is injected ("now"), so every run makes the same
cases (ECDSA/PSS signatures differ run to run; their validity does not).

Every case states the status, the RFC 6750 error where there is one, and the reason: the name of
the core's Rejection (crates/jwtgate-core/src/rejection.rs `name()`, e.g. `expired`, `invalid_signature`), or
null when nothing is refused. REASON_ANSWER checks each reason against its status and error.

What PyJWT checks (`Corpus.add`), by case class:
  * Every case whose request carries a token (bearer, cookie, query parameter, custom header;
    forged and malformed ones included) is decoded by PyJWT with what the route's provider(s)
    configure: the key, the one algorithm it allows, the issuer, the audiences, `exp` when the
    provider requires it, and exp/nbf/iat at the case's clock with jwtgate's 60 s skew as
    leeway (pyjwt_clock). Its verdict is recorded in the case ("pyjwt": "accepts"/"rejects").
  * Cases that pass: PyJWT must accept the token (asserted), except where `pyjwt_differs`
    says why it does not (asserted to still differ): a fractional `exp` PyJWT truncates.
  * Cases refused for a check PyJWT makes too (SHARED_CHECKS: invalid_signature,
    unsupported_algorithm, issuer_mismatch, audience_not_allowed, expired, not_yet_valid,
    missing_expiration): PyJWT must refuse the token (asserted).
  * Other refusals are jwtgate's own policy beyond PyJWT (kid lookup, strict base64 and JSON:
    duplicates, typed dates; date range, size cap, max_lifetime, crit/b64, token locations and
    header forms, rule claim conditions): PyJWT's verdict is recorded, not asserted; it
    accepts some of these tokens (the summary line counts them).
  * Cases without a token (public routes, missing tokens, CORS, dry-run) involve no PyJWT.
  * Tokens are made with PyJWT's signer (jwt.encode, or its algorithm objects for hand-written
    header/payload text), except the RFC 7515/8037 published examples (checked against their
    published keys first: check_rfc_vectors) and hand-made forgeries (alg none, zeroed or
    malformed signatures, structure errors).
"""

import base64
import contextlib
import json
import os
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hashes as hashes_mod
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
RSA_FIXTURE = os.path.join(HERE, "..", "..", "crates", "jwtgate-rsa", "tests", "openssl_signatures.json")
NOW = 1_700_000_000
ISS = "https://issuer.test"
AUD = "api"
SECRETS = {
    "HS256": b"corpus-hs256-secret-0123456789ab",  # 32 bytes
    "HS384": b"corpus-hs384-secret-0123456789abcdefghijklmnopqr",  # 48
    "HS512": b"corpus-hs512-secret-0123456789abcdefghijklmnopqrstuvwxyz0123456789",  # 64
}
ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA"]
KEY_FILE = {"RS": "rsa2048", "PS": "rsa2048", "ES256": "p256", "ES384": "p384",
            "ES512": "p521", "EdDSA": "ed25519"}


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ---- keys ----

def new_keys():
    os.makedirs(KEYS, exist_ok=True)
    made = {
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "attacker-rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "attacker-p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    for name, key in made.items():
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        with open(os.path.join(KEYS, name + ".pem"), "wb") as f:
            f.write(pem)
    print(f"wrote {len(made)} test-only keys to {KEYS}")


def load(name):
    with open(os.path.join(KEYS, name + ".pem"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def private_key(alg):
    if alg.startswith("HS"):
        return SECRETS[alg]
    return load(KEY_FILE.get(alg) or KEY_FILE[alg[:2]])


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_jwk(alg, kid=None, with_alg=False):
    if alg.startswith("HS"):
        jwk = {"kty": "oct", "k": b64u(SECRETS[alg]), "alg": alg}
    else:
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(private_key(alg).public_key()))
        if with_alg:
            jwk["alg"] = alg
    if kid:
        jwk["kid"] = kid
    return jwk


# ---- signing with PyJWT's algorithm objects (raw text in, compact token out) ----

def sign_input(alg, key, signing_input):
    algo = jwt.algorithms.get_default_algorithms()[alg]
    return algo.sign(signing_input.encode(), algo.prepare_key(key) if not alg.startswith("HS") else key)


def raw_token(alg, key, header_text, payload_text, sign_as=None):
    signing_input = b64u(header_text) + "." + b64u(payload_text)
    return signing_input + "." + b64u(sign_input(sign_as or alg, key, signing_input))


def token(alg, claims, headers=None, key=None):
    return jwt.encode(claims, key if key is not None else private_key(alg), algorithm=alg,
                      headers=headers)


def claims(**extra):
    c = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW - 10, "exp": NOW + 300,
         "realm_access": {"roles": ["user", "admin"]}, "scope": "read write"}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


NO_TIME = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
SKEW = 60  # jwtgate's default clock_skew_seconds; PyJWT's leeway


def pyjwt_accepts(tok, alg, key, audience=AUD, issuer=ISS):
    """PyJWT's own verdict on signature, issuer and audience, time claims not checked (the
    fixtures of the remote-JWKS tests, which run on the host's clock)."""
    try:
        verify_key = key.public_key() if hasattr(key, "public_key") else key
        jwt.decode(tok, verify_key, algorithms=[alg], audience=audience, issuer=issuer, options=NO_TIME)
        return True
    except Exception:
        return False


@contextlib.contextmanager
def pyjwt_clock(now):
    """PyJWT takes no clock: it reads datetime.now() in jwt.api_jwt. The case's "now" is injected
    by swapping that module's `datetime` for one whose now() is `now`, for one decode."""
    real = jwt.api_jwt.datetime

    class Frozen(real):
        @classmethod
        def now(cls, tz=None):
            return real.fromtimestamp(now, tz)

    jwt.api_jwt.datetime = Frozen
    try:
        yield
    finally:
        jwt.api_jwt.datetime = real


def verifier(alg, issuer=ISS, audience=AUD, require=(), key=None):
    """What PyJWT is told for one jwtgate provider: its key, the one algorithm the key allows,
    its issuer and audiences, and the claims it requires."""
    if key is None:
        key = private_key(alg)
        key = key if alg.startswith("HS") else key.public_key()
    return {"key": key, "algorithms": [alg], "issuer": issuer, "audience": audience,
            "require": list(require)}


def pyjwt_verdict(tok, verifiers, now):
    """True if PyJWT accepts `tok` for any of the providers: signature, alg allow-list, iss,
    aud, exp/nbf/iat at `now` with SKEW seconds of leeway, required claims."""
    for v in verifiers:
        with pyjwt_clock(now):
            try:
                jwt.decode(tok, v["key"], algorithms=v["algorithms"], issuer=v["issuer"],
                           audience=v["audience"], leeway=SKEW, options={"require": v["require"]})
                return True
            except Exception:
                pass
    return False


def check_pyjwt_clock():
    """The injected clock must reach PyJWT's exp/nbf checks, or every time case is unchecked."""
    v = [verifier("HS256")]
    tok = token("HS256", claims(exp=NOW + 300, nbf=NOW - 300))
    assert pyjwt_verdict(tok, v, NOW)
    assert not pyjwt_verdict(tok, v, NOW + 300 + SKEW), "PyJWT ignores the injected clock (exp)"
    assert not pyjwt_verdict(tok, v, NOW - 300 - SKEW - 1), "PyJWT ignores the injected clock (nbf)"


# ---- configurations ----

def route(alg):
    return "/" + alg.lower()


def provider(alg, source):
    p = {"issuer": ISS, "audiences": [AUD],
         "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"},
                              {"header_name": "x-jwt-roles", "claim_name": "realm_access.roles"}]}
    if source == "pem":
        if alg.startswith("HS"):
            p["keys"] = [{"kid": "k-" + alg, "alg": alg, "secret": SECRETS[alg].decode()}]
        else:
            p["keys"] = [{"kid": "k-" + alg, "alg": alg, "pem": public_pem(private_key(alg))}]
    else:
        # JWKs without "alg" for asymmetric keys: the key type decides the family.
        p["local_jwks"] = {"inline_string": json.dumps({"keys": [public_jwk(alg, "k-" + alg)]})}
    return p


def per_alg_config(source):
    providers = {alg.lower(): provider(alg, source) for alg in ALGS}
    rules = [{"match": {"prefix": "/public"}}]
    rules += [{"match": {"prefix": route(alg)}, "requires": {"provider_name": alg.lower()}}
              for alg in ALGS]
    return {"providers": providers, "rules": rules}


RFC7515_A1_KEY = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
RFC7515_A1 = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
              "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
              "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
RFC7515_A3_JWK = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
RFC7515_A3 = ("eyJhbGciOiJFUzI1NiJ9."
              "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
              "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
RFC8037_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_A4 = ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
              "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")


def check_rfc_vectors():
    """Each published vector must verify with PyJWT before the corpus relies on it."""
    jwt.decode(RFC7515_A1, jwt.PyJWK({"kty": "oct", "k": RFC7515_A1_KEY}).key, algorithms=["HS256"],
               options=NO_TIME)
    jwt.decode(RFC7515_A3, jwt.PyJWK(RFC7515_A3_JWK).key, algorithms=["ES256"], options=NO_TIME)
    # Ed25519 is deterministic: re-sign with the published private key and compare.
    sk = ed25519.Ed25519PrivateKey.from_private_bytes(b64u_decode(RFC8037_D))
    head, payload, sig = RFC8037_A4.split(".")
    assert b64u(sk.sign((head + "." + payload).encode())) == sig, "RFC 8037 A.4 does not reproduce"
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert b64u(pub) == RFC8037_JWK["x"]


def rfc_config():
    return {"providers": {
        "a1": {"local_jwks": {"inline_string": json.dumps({"keys": [{"kty": "oct", "k": RFC7515_A1_KEY}]})},
               "issuer": "joe", "claim_to_headers": [{"header_name": "x-root", "claim_name": "http://example.com/is_root"}]},
        "a3": {"local_jwks": {"inline_string": json.dumps({"keys": [RFC7515_A3_JWK]})}, "issuer": "joe"},
        "ed": {"local_jwks": {"inline_string": json.dumps({"keys": [RFC8037_JWK]})}},
    }, "rules": [
        {"match": {"prefix": "/a1"}, "requires": {"provider_name": "a1"}},
        {"match": {"prefix": "/a3"}, "requires": {"provider_name": "a3"}},
        {"match": {"prefix": "/ed"}, "requires": {"provider_name": "ed"}},
    ]}


def sources_config():
    base = provider("HS256", "pem")
    cookie = dict(base, from_cookies=["session"])
    param = dict(base, from_params=["access_token"])
    header = dict(base, from_headers=[{"name": "x-token", "value_prefix": "JWT "}], forward=True,
                  forward_payload_header="x-jwt-payload")
    return {"providers": {"cookie": cookie, "param": param, "header": header}, "rules": [
        {"match": {"prefix": "/cookie"}, "requires": {"provider_name": "cookie"}},
        {"match": {"prefix": "/param"}, "requires": {"provider_name": "param"}},
        {"match": {"prefix": "/header"}, "requires": {"provider_name": "header"}},
    ]}


def strict_config():
    p = provider("RS256", "pem")
    p.update(require_expiration=True, max_lifetime="3600s")
    return {"providers": {"strict": p}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "strict"}}]}


def rules_config():
    """Issue 4: requirement trees, claim conditions, failure responses, dry-run, CORS."""
    a = provider("HS256", "pem")
    b = provider("ES256", "pem")
    b["issuer"] = "https://b.test"
    b["audiences"] = ["b-api"]
    b["claim_to_headers"] = [{"header_name": "x-b-sub", "claim_name": "sub"}]
    return {"providers": {"a": a, "b": b}, "bypass_cors_preflight": True, "stat_prefix": "corpus", "rules": [
        {"match": {"prefix": "/admin"}, "requires": {"provider_name": "a", "claims": [
            {"claim": "realm_access.roles", "contains": "admin"}]}},
        {"match": {"prefix": "/write"}, "requires": {"provider_name": "a", "claims": [
            {"claim": "scope", "all_of": ["read", "write"]},
            {"claim": "level", "gte": 2, "status": 401}]}},
        {"match": {"prefix": "/either"}, "requires": {"requires_any": {"requirements": [
            {"provider_name": "a"}, {"provider_name": "b"}]}}},
        {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {}}},
        {"match": {"prefix": "/app"}, "requires": {"provider_name": "a"},
         "failure_response": {"redirect": {"url": "https://login.test/login", "param": "redirect"}}},
        {"match": {"prefix": "/report"}, "requires": {"provider_name": "a"}, "dry_run": True},
        {"match": {"safe_regex": {"regex": "/users/[0-9]+"}, "methods": ["GET"]}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "a"}},
    ]}


def profiles_config():
    """Issue 20: token profiles (typ, subjects, required_claims, escaped claim paths, arrays into
    headers) and audience_match."""
    at = provider("HS256", "pem")
    at.update({
        "typ": ["at+jwt", "application/at+jwt"],
        "subjects": {"safe_regex": {"regex": "alice|bob"}},
        "required_claims": ["client_id", "kubernetes\\.io.namespace"],
        "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"},
                             {"header_name": "x-namespace", "claim_name": "kubernetes\\.io.namespace"},
                             {"header_name": "x-groups", "claim_name": "groups"}],
    })
    envoy = provider("HS256", "pem")
    envoy.update({"audiences": [PROFILE_AUD], "audience_match": "envoy"})
    exact = provider("HS256", "pem")
    exact.update({"audiences": [PROFILE_AUD]})
    return {"providers": {"at": at, "envoy": envoy, "exact": exact}, "rules": [
        {"match": {"prefix": "/envoy"}, "requires": {"provider_name": "envoy"}},
        {"match": {"prefix": "/exact"}, "requires": {"provider_name": "exact"}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "at"}},
    ]}


PROFILE_AUD = "https://api.test"


# ---- cases ----

# What each refusal answers (crates/jwtgate-core/src/rejection.rs): a typo'd or misplaced reason fails here.
REASON_ANSWER = {
    "missing_token": (401, None), "token_too_large": (401, "invalid_token"),
    "malformed_token": (401, "invalid_token"), "malformed_header": (401, "invalid_token"),
    "unsupported_algorithm": (401, "invalid_token"), "unsupported_critical": (401, "invalid_token"),
    "key_not_found": (401, "invalid_token"), "invalid_signature": (401, "invalid_token"),
    "malformed_claims": (401, "invalid_token"), "expired": (401, "invalid_token"),
    "not_yet_valid": (401, "invalid_token"), "missing_expiration": (401, "invalid_token"),
    "lifetime_too_long": (401, "invalid_token"), "issuer_mismatch": (401, "invalid_token"),
    "audience_not_allowed": (403, "insufficient_scope"), "claims_forbidden": (403, "insufficient_scope"),
    "claims_rejected": (401, "invalid_token"), "date_out_of_range": (401, "invalid_token"),
    "extra_token_invalid": (401, "invalid_token"), "too_many_candidate_keys": (401, "invalid_token"),
    "issued_in_future": (401, "invalid_token"), "negative_lifetime": (401, "invalid_token"),
    "claim_not_forwardable": (401, "invalid_token"),
    "typ_not_allowed": (401, "invalid_token"), "subject_not_allowed": (401, "invalid_token"),
    "missing_required_claim": (401, "invalid_token"),
}
# Refusals for checks PyJWT makes too: PyJWT must refuse these tokens as well.
SHARED_CHECKS = {"invalid_signature", "unsupported_algorithm", "issuer_mismatch", "audience_not_allowed",
                 "expired", "not_yet_valid", "missing_expiration"}


def pyjwt_verifiers(config, path):
    """The providers (as PyJWT verifiers) that the route of `path` in `config` requires."""
    if config in ("pem", "jwks"):
        alg = next((a for a in ALGS if path.startswith(route(a))), None)
        return [verifier(alg)] if alg else []
    if config == "rfc7515":
        return {"/a1": [verifier("HS256", issuer="joe", audience=None,
                                 key=jwt.PyJWK({"kty": "oct", "k": RFC7515_A1_KEY}).key)],
                "/a3": [verifier("ES256", issuer="joe", audience=None, key=jwt.PyJWK(RFC7515_A3_JWK).key)],
                "/ed": [verifier("EdDSA", issuer=None, audience=None, key=jwt.PyJWK(RFC8037_JWK).key)]}[path[:3]]
    if config == "sources":
        return [verifier("HS256")]
    if config == "strict":
        return [verifier("RS256", require=["exp"])]
    if config == "rules":
        a, b = verifier("HS256"), verifier("ES256", issuer="https://b.test", audience="b-api")
        return [a, b] if path.startswith("/either") else [a]
    if config == "profiles":
        if path.startswith(("/envoy", "/exact")):
            return [verifier("HS256", audience=PROFILE_AUD)]
        return [verifier("HS256")]
    raise AssertionError(config)


class Corpus:
    def __init__(self):
        self.cases = []

    def add(self, name, config, path, headers, status, error=Ellipsis, upstream=None, absent=None,
            now=None, method="GET", reason=Ellipsis, token=None, pyjwt_differs=None):
        """One request and what jwtgate must answer. `reason` is the core's Rejection name (None:
        no refusal), required for every case. `token`: the JWT the request carries, which PyJWT
        then verifies for the route's providers at the case's clock. `pyjwt_differs`: why PyJWT's
        verdict is known to differ from jwtgate's on a check both make (asserted to differ)."""
        assert reason is not Ellipsis, f"{name}: no expected reason"
        if reason is None:
            assert status == 200, f"{name}: refused without a reason"
        elif status == 200:
            assert "dry_run" in name, f"{name}: a reason, yet passed (only dry-run does that)"
        elif status != 302:  # failure_response: redirect answers 302 for any reason
            want_status, want_error = REASON_ANSWER[reason]
            assert status == want_status, f"{name}: {reason} answers {want_status}, not {status}"
            assert error in (Ellipsis, want_error), f"{name}: {reason} answers error {want_error}"
        expect = {"status": status, "reason": reason}
        if error is not Ellipsis:
            expect["error"] = error
        if upstream:
            expect["upstream_headers"] = upstream
        if absent:
            expect["upstream_absent"] = absent
        case = {"name": name, "config": config,
                "request": {"method": method, "path": path, "headers": [list(h) for h in headers]},
                "expect": expect}
        if now is not None:
            case["now"] = now
        if token is not None:
            accepts = pyjwt_verdict(token, pyjwt_verifiers(config, path), NOW if now is None else now)
            case["pyjwt"] = "accepts" if accepts else "rejects"
            if pyjwt_differs:
                assert accepts == (reason is not None), f"{name}: PyJWT no longer differs"
                case["pyjwt_differs"] = pyjwt_differs
            elif status == 200 and reason is None:
                assert accepts, f"{name}: jwtgate must pass a token that PyJWT refuses"
            if reason in SHARED_CHECKS:
                assert not accepts, f"{name}: PyJWT accepts a token jwtgate refuses as {reason}"
        assert name not in {c["name"] for c in self.cases}, name
        self.cases.append(case)

    def bearer(self, name, config, path, tok, status, error=Ellipsis, **kw):
        self.add(name, config, path, [("authorization", "Bearer " + tok)], status, error, token=tok, **kw)


def tamper_signature(tok):
    head, payload, sig = tok.split(".")
    raw = bytearray(b64u_decode(sig))
    raw[len(raw) // 2] ^= 0x01
    return head + "." + payload + "." + b64u(bytes(raw))


def build():
    check_rfc_vectors()
    check_pyjwt_clock()
    c = Corpus()
    # Arrays of scalars go out comma-joined (README: claim header encoding).
    ok_headers = {"x-jwt-sub": "alice", "x-jwt-roles": "user,admin"}

    # Every algorithm, from PEM keys and from a JWKS, with and without kid.
    for source in ["pem", "jwks"]:
        for alg in ALGS:
            for kid in [True, False]:
                tok = token(alg, claims(), {"kid": "k-" + alg} if kid else None)
                name = f"{source}_{alg.lower()}_valid" + ("_kid" if kid else "_no_kid")
                c.bearer(name, source, route(alg) + "/x", tok, 200, upstream=ok_headers,
                         absent=["authorization"], reason=None)
            forged = tamper_signature(token(alg, claims()))
            c.bearer(f"{source}_{alg.lower()}_bit_flipped_signature", source, route(alg), forged, 401,
                     "invalid_token", reason="invalid_signature")
            c.bearer(f"{source}_{alg.lower()}_wrong_payload", source, route(alg),
                     token(alg, claims()).split(".")[0] + "." + b64u(json.dumps(claims(sub="admin"))) + "."
                     + token(alg, claims()).split(".")[2], 401, "invalid_token", reason="invalid_signature")

    # Header alg that the key does not allow.
    for tok_alg, route_alg in [("RS384", "RS256"), ("PS256", "RS256"), ("ES256", "ES384"),
                               ("HS512", "HS256"), ("RS256", "ES256"), ("EdDSA", "ES256")]:
        key = private_key(tok_alg)
        c.bearer(f"alg_{tok_alg.lower()}_against_{route_alg.lower()}_key", "pem", route(route_alg),
                 token(tok_alg, claims(), key=key), 401, "invalid_token", reason="key_not_found")

    # Key confusion: HS256 "signed" with the RSA public key PEM (and the JWK text) as secret.
    pem = public_pem(private_key("RS256")).encode()
    for i, secret in enumerate([pem, pem.strip(), json.dumps(public_jwk("RS256")).encode()]):
        tok = raw_token("HS256", secret, json.dumps({"alg": "HS256", "typ": "JWT"}), json.dumps(claims()))
        c.bearer(f"hs256_signed_with_rsa_public_key_{i}", "pem", route("RS256"), tok, 401, "invalid_token",
                 reason="key_not_found")
        c.bearer(f"hs256_signed_with_rsa_public_key_jwks_{i}", "jwks", route("RS256"), tok, 401, "invalid_token",
                 reason="key_not_found")

    # alg none in every spelling, with and without a signature. Without one the token has an empty
    # segment and is refused as malformed before its header is read; with one, for its alg.
    body = b64u(json.dumps(claims()))
    for spelling in ["none", "None", "NONE", "nOnE"]:
        head = b64u(json.dumps({"alg": spelling, "typ": "JWT"}))
        c.bearer(f"alg_{spelling}_empty_signature", "pem", "/hs256", f"{head}.{body}.", 401, "invalid_token",
                 reason="malformed_token")
        c.bearer(f"alg_{spelling}_with_signature", "pem", "/hs256", f"{head}.{body}.{b64u('sig')}", 401,
                 "invalid_token", reason="unsupported_algorithm")
    c.bearer("alg_missing", "pem", "/hs256",
             raw_token("HS256", SECRETS["HS256"], json.dumps({"typ": "JWT"}), json.dumps(claims())), 401,
             "invalid_token", reason="unsupported_algorithm")

    # Unknown kid, crit, b64, key-URL headers with an attacker key.
    c.bearer("unknown_kid", "pem", "/rs256", token("RS256", claims(), {"kid": "nope"}), 401, "invalid_token",
             reason="key_not_found")
    c.bearer("unknown_kid_jwks", "jwks", "/es256", token("ES256", claims(), {"kid": "nope"}), 401, "invalid_token",
             reason="key_not_found")
    for i, extra in enumerate([{"crit": ["exp"], "exp": 1}, {"crit": ["b64"], "b64": False}, {"b64": False},
                               {"crit": []}, {"crit": ["http://example.invalid/x"], "http://example.invalid/x": 1}]):
        head = dict({"alg": "HS256", "typ": "JWT"}, **extra)
        c.bearer(f"crit_or_b64_{i}", "pem", "/hs256",
                 raw_token("HS256", SECRETS["HS256"], json.dumps(head), json.dumps(claims())), 401, "invalid_token",
                 reason="unsupported_critical")
    attacker = load("attacker-rsa2048")
    attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    for name, extra in [("jku", {"jku": "https://attacker.invalid/jwks.json"}),
                        ("x5u", {"x5u": "https://attacker.invalid/cert.pem"}),
                        ("embedded_jwk", {"jwk": attacker_jwk}),
                        ("x5c", {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
                        ("jku_with_our_kid", {"jku": "https://attacker.invalid/jwks.json", "kid": "k-RS256"})]:
        c.bearer(f"{name}_attacker_key", "pem", "/rs256", token("RS256", claims(), extra, key=attacker), 401,
                 "invalid_token", reason="invalid_signature")
    c.bearer("attacker_p256_key", "pem", "/es256",
             token("ES256", claims(), {"kid": "k-ES256"}, key=load("attacker-p256")), 401, "invalid_token",
             reason="invalid_signature")

    # ECDSA: r = s = 0, DER instead of raw, truncated, high-order garbage.
    for alg, size in [("ES256", 64), ("ES384", 96), ("ES512", 132)]:
        head, payload, sig = token(alg, claims()).split(".")
        c.bearer(f"{alg.lower()}_r_s_zero", "pem", route(alg), f"{head}.{payload}.{b64u(bytes(size))}", 401,
                 "invalid_token", reason="invalid_signature")
        raw = b64u_decode(sig)
        half = len(raw) // 2
        der = utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        c.bearer(f"{alg.lower()}_der_signature", "pem", route(alg), f"{head}.{payload}.{b64u(der)}", 401,
                 "invalid_token", reason="invalid_signature")
        c.bearer(f"{alg.lower()}_truncated_signature", "pem", route(alg), f"{head}.{payload}.{b64u(raw[:-1])}",
                 401, "invalid_token", reason="invalid_signature")
        ones = b64u(bytes([0xFF]) * size)
        c.bearer(f"{alg.lower()}_r_s_all_ones", "pem", route(alg), f"{head}.{payload}.{ones}", 401,
                 "invalid_token", reason="invalid_signature")

    # Structure: segments, padding, alphabet, non-objects, duplicates, types.
    good = token("HS256", claims())
    head, payload, sig = good.split(".")
    for name, tok in [("two_segments", f"{head}.{payload}"),
                      ("four_segments", f"{good}.{sig}"),
                      ("empty_segment", f"{head}..{sig}"),
                      ("padding_in_signature", f"{good}="),
                      ("padding_in_payload", f"{head}.{payload}=.{sig}"),
                      ("plus_slash_alphabet", f"{head}.{payload}.{sig[:-2]}+/"),
                      ("tilde_in_payload", f"{head}.{payload}~.{sig}"),
                      ("space_inside_token", f"{head}.{payload[:5]} {payload[5:]}.{sig}"),
                      ("trailing_garbage", f"{good} garbage"),
                      ("trailing_dot", f"{good}."),
                      ("leading_dot", f".{good}"),
                      ("non_canonical_trailing_bits", f"{head}.{payload}.{sig[:-1]}{'B' if sig[-1] == 'A' else chr(ord(sig[-1]) + 1)}"),
                      ("only_dots", ".."),
                      ("percent_encoded", good.replace(".", "%2E"))]:
        c.bearer(f"structure_{name}", "pem", "/hs256", tok, 401, "invalid_token", reason="malformed_token")
    hs = SECRETS["HS256"]
    for name, header_text, payload_text in [
        ("payload_array", '{"alg":"HS256"}', '["sub","alice"]'),
        ("payload_string", '{"alg":"HS256"}', '"alice"'),
        ("payload_number", '{"alg":"HS256"}', "1700000000"),
        ("payload_not_json", '{"alg":"HS256"}', "Example of Ed25519 signing"),
        ("header_array", '["HS256"]', json.dumps(claims())),
        ("header_not_json", "alg=HS256", json.dumps(claims())),
        ("duplicate_claim", '{"alg":"HS256"}',
         '{"iss":"%s","aud":"api","sub":"alice","sub":"admin","exp":%d}' % (ISS, NOW + 300)),
        ("duplicate_nested_claim", '{"alg":"HS256"}',
         '{"iss":"%s","aud":"api","sub":"a","exp":%d,"realm_access":{"roles":["user"],"roles":["admin"]}}' % (ISS, NOW + 300)),
        ("duplicate_header_alg", '{"alg":"HS256","alg":"none"}', json.dumps(claims())),
        ("exp_as_string", '{"alg":"HS256"}', json.dumps(claims(exp=str(NOW + 300)))),
        ("nbf_as_string", '{"alg":"HS256"}', json.dumps(claims(nbf=str(NOW - 300)))),
        ("iat_as_bool", '{"alg":"HS256"}', json.dumps(claims(iat=True))),
        ("exp_null", '{"alg":"HS256"}', json.dumps(dict(claims(), exp=None))),
        ("aud_number", '{"alg":"HS256"}', json.dumps(claims(aud=7))),
        ("iss_number", '{"alg":"HS256"}', json.dumps(claims(iss=7))),
        ("kid_number", '{"alg":"HS256","kid":7}', json.dumps(claims())),
        ("deeply_nested_claims", '{"alg":"HS256"}', '{"a":' + "[" * 500 + "]" * 500 + "}"),
        ("bom_before_json", '{"alg":"HS256"}', "\ufeff" + json.dumps(claims())),
    ]:
        in_header = name.startswith("header_") or name in ("duplicate_header_alg", "kid_number")
        c.bearer(f"json_{name}", "pem", "/hs256", raw_token("HS256", hs, header_text, payload_text), 401,
                 "invalid_token", reason="malformed_header" if in_header else "malformed_claims")

    # Time, issuer, audience at their edges (clock skew 60 s).
    differs = {"exp_float_inside_skew": "PyJWT truncates a fractional exp to an integer (NOW - 60: expired); "
                                        "jwtgate compares NumericDates exactly (RFC 7519 §2)"}
    for name, cl, status, reason in [
        ("exp_now_minus_59", claims(exp=NOW - 59), 200, None),
        ("exp_now_minus_60", claims(exp=NOW - 60), 401, "expired"),
        ("exp_now_minus_61", claims(exp=NOW - 61), 401, "expired"),
        ("exp_float_inside_skew", claims(exp=NOW - 59.5), 200, None),
        # Dates beyond year 9999 are refused (date_out_of_range); 9999-12-31 is the last.
        ("exp_huge", claims(exp=10 ** 15), 401, "date_out_of_range"),
        ("exp_year_9999", claims(exp=253402300799), 200, None),
        ("exp_negative", claims(exp=-1), 401, "date_out_of_range"),
        ("nbf_now_plus_60", claims(nbf=NOW + 60), 200, None),
        ("nbf_now_plus_61", claims(nbf=NOW + 61), 401, "not_yet_valid"),
        ("no_exp_allowed_by_default", claims(exp=None), 200, None),
        ("iss_mismatch", claims(iss="https://evil.test"), 401, "issuer_mismatch"),
        ("iss_trailing_slash", claims(iss=ISS + "/"), 401, "issuer_mismatch"),
        ("iss_missing", claims(iss=None), 401, "issuer_mismatch"),
        ("aud_array_match", claims(aud=["other", AUD]), 200, None),
        ("aud_mismatch", claims(aud="other"), 403, "audience_not_allowed"),
        ("aud_array_mismatch", claims(aud=["x", "y"]), 403, "audience_not_allowed"),
        ("aud_missing", claims(aud=None), 403, "audience_not_allowed"),
        ("aud_case", claims(aud="API"), 403, "audience_not_allowed"),
    ]:
        tok = token("ES256", cl)
        c.bearer(f"claims_{name}", "pem", "/es256", tok, status, REASON_ANSWER[reason][1] if reason else Ellipsis,
                 reason=reason, pyjwt_differs=differs.get(name))
    c.bearer("strict_valid", "strict", "/x", token("RS256", claims(iat=NOW, exp=NOW + 3600)), 200, reason=None)
    c.bearer("strict_missing_exp", "strict", "/x", token("RS256", claims(exp=None)), 401, "invalid_token",
             reason="missing_expiration")
    c.bearer("strict_lifetime_too_long", "strict", "/x", token("RS256", claims(iat=NOW, exp=NOW + 3601)), 401,
             "invalid_token", reason="lifetime_too_long")
    c.bearer("strict_lifetime_from_nbf", "strict", "/x",
             token("RS256", claims(iat=None, nbf=NOW - 10, exp=NOW + 3595)), 401, "invalid_token",
             reason="lifetime_too_long")

    # Oversized tokens and headers.
    c.bearer("oversized_token", "pem", "/hs256", token("HS256", claims(pad="x" * 9000)), 401, "invalid_token",
             reason="token_too_large")
    c.bearer("oversized_garbage", "pem", "/hs256", "a" * 100_000, 401, "invalid_token", reason="token_too_large")
    c.bearer("just_under_the_cap", "pem", "/hs256", token("HS256", claims(pad="x" * 5500)), 200, reason=None)

    # Authorization forms.
    tok = token("HS256", claims())
    for name, value, status, error, reason in [
        ("lower_case_scheme", "bearer " + tok, 200, Ellipsis, None),
        ("upper_case_scheme", "BEARER " + tok, 200, Ellipsis, None),
        ("extra_spaces", "Bearer    " + tok + "  ", 200, Ellipsis, None),
        ("tab_separator", "Bearer\t" + tok, 200, Ellipsis, None),
        ("basic_scheme", "Basic dXNlcjpwYXNz", 401, None, "missing_token"),
        ("empty_value", "", 401, None, "missing_token"),
        # The scheme without a token is a credential, malformed (invalid_token), not a missing one.
        ("bare_scheme", "Bearer", 401, "invalid_token", "malformed_token"),
        ("scheme_and_space", "Bearer ", 401, "invalid_token", "malformed_token"),
        ("no_space_after_scheme", "Bearer" + tok, 401, None, "missing_token"),
        ("token_without_scheme", tok, 401, None, "missing_token"),
        ("two_tokens", "Bearer " + tok + ", Bearer " + tok, 401, "invalid_token", "malformed_token"),
    ]:
        c.add(f"authorization_{name}", "pem", "/hs256", [("authorization", value)], status, error, reason=reason,
              token=tok if tok in value else None)
    c.add("no_token", "pem", "/hs256", [], 401, None, reason="missing_token")
    c.add("public_route_no_token", "pem", "/public/x", [], 200, reason=None)
    c.add("public_route_strips_spoofed_claim_header", "pem", "/public/x",
          [("x-jwt-sub", "mallory"), ("x-jwt-roles", "admin")], 200, absent=["x-jwt-sub", "x-jwt-roles"],
          reason=None)
    c.add("protected_route_replaces_spoofed_claim_header", "pem", "/hs256",
          [("x-jwt-sub", "mallory"), ("authorization", "Bearer " + tok)], 200, upstream={"x-jwt-sub": "alice"},
          reason=None, token=tok)
    c.add("traversal_from_public_is_protected", "pem", "/public/../hs256/x", [], 401, None, reason="missing_token")
    c.add("unmatched_route_passes", "pem", "/unrouted", [], 200, reason=None)

    # Token locations and forward: false.
    c.add("cookie_token", "sources", "/cookie", [("cookie", f"a=1; session={tok}; b=2")], 200,
          upstream={"cookie": "a=1; b=2", "x-jwt-sub": "alice"}, reason=None, token=tok)
    c.add("cookie_only_token_removed", "sources", "/cookie", [("cookie", f"session={tok}")], 200,
          absent=["cookie"], reason=None, token=tok)
    c.add("cookie_missing", "sources", "/cookie", [("cookie", "sessions=x")], 401, None, reason="missing_token")
    c.add("param_token", "sources", f"/param/x?a=1&access_token={tok}&b=2", [], 200,
          upstream={":path": "/param/x?a=1&b=2", "x-jwt-sub": "alice"}, reason=None, token=tok)
    c.add("param_only", "sources", f"/param?access_token={tok}", [], 200, upstream={":path": "/param"},
          reason=None, token=tok)
    c.add("param_ignores_authorization", "sources", "/param", [("authorization", "Bearer " + tok)], 401, None,
          reason="missing_token", token=tok)
    c.add("custom_header_prefix", "sources", "/header", [("x-token", "jwt " + tok)], 200,
          upstream={"x-token": "jwt " + tok, "x-jwt-payload": tok.split(".")[1]}, reason=None, token=tok)
    c.add("custom_header_wrong_prefix", "sources", "/header", [("x-token", "Bearer " + tok)], 401, None,
          reason="missing_token", token=tok)

    # RFC 7515 / RFC 8037 published examples.
    c.bearer("rfc7515_a1_hs256", "rfc7515", "/a1", RFC7515_A1, 200, now=1300819000, upstream={"x-root": "true"},
             reason=None)
    c.bearer("rfc7515_a1_hs256_expired", "rfc7515", "/a1", RFC7515_A1, 401, "invalid_token", now=1300819380 + 61,
             reason="expired")
    c.bearer("rfc7515_a3_es256", "rfc7515", "/a3", RFC7515_A3, 200, now=1300819000, reason=None)
    c.bearer("rfc7515_a3_es256_expired", "rfc7515", "/a3", RFC7515_A3, 401, "invalid_token", now=1300819380 + 61,
             reason="expired")
    c.bearer("rfc7515_a3_es256_tampered", "rfc7515", "/a3", tamper_signature(RFC7515_A3), 401, "invalid_token",
             now=1300819000, reason="invalid_signature")
    c.bearer("rfc8037_a4_ed25519_payload_not_json", "rfc7515", "/ed", RFC8037_A4, 401, "invalid_token",
             reason="malformed_claims")

    # Rules and authorization (issue 4).
    admin = token("HS256", claims())
    user = token("HS256", claims(realm_access={"roles": ["user"]}))
    c.bearer("rules_admin_role_allowed", "rules", "/admin", admin, 200, reason=None)
    c.bearer("rules_admin_role_missing_403", "rules", "/admin", user, 403, "insufficient_scope",
             reason="claims_forbidden")
    c.bearer("rules_scope_all_of_and_level", "rules", "/write", token("HS256", claims(level=2)), 200, reason=None)
    c.bearer("rules_scope_missing_403", "rules", "/write", token("HS256", claims(scope="read", level=2)), 403,
             "insufficient_scope", reason="claims_forbidden")
    c.bearer("rules_level_too_low_401", "rules", "/write", token("HS256", claims(level=1)), 401, "invalid_token",
             reason="claims_rejected")
    c.bearer("rules_either_first_issuer", "rules", "/either", admin, 200, upstream={"x-jwt-sub": "alice"},
             reason=None)
    b_tok = token("ES256", claims(iss="https://b.test", aud="b-api", sub="bob"))
    c.bearer("rules_either_second_issuer", "rules", "/either", b_tok, 200, upstream={"x-b-sub": "bob"},
             absent=["x-jwt-sub"], reason=None)
    c.bearer("rules_either_second_issuer_wrong_audience", "rules", "/either",
             token("ES256", claims(iss="https://b.test", aud="api")), 403, "insufficient_scope",
             reason="audience_not_allowed")
    c.bearer("rules_either_unknown_issuer", "rules", "/either", token("HS256", claims(iss="https://evil.test")),
             401, "invalid_token", reason="issuer_mismatch")
    c.add("rules_optional_without_token", "rules", "/optional", [], 200, reason=None)
    c.bearer("rules_optional_with_valid_token", "rules", "/optional", admin, 200, upstream={"x-jwt-sub": "alice"},
             reason=None)
    c.bearer("rules_optional_wrong_issuer_refused", "rules", "/optional",
             token("HS256", claims(iss="https://evil.test")), 401, "invalid_token", reason="issuer_mismatch")
    c.bearer("rules_optional_forged_refused", "rules", "/optional", tamper_signature(admin), 401, "invalid_token",
             reason="invalid_signature")
    c.add("rules_redirect_to_login", "rules", "/app/page?x=1", [], 302, reason="missing_token")
    c.bearer("rules_redirect_not_for_valid", "rules", "/app/page", admin, 200, reason=None)
    # Dry-run: the request passes and the refusal it would have had is reported (log, metric).
    c.add("rules_dry_run_passes", "rules", "/report", [("x-jwt-sub", "spoof")], 200, absent=["x-jwt-sub"],
          reason="missing_token")
    c.add("rules_cors_preflight_bypass", "rules", "/api", [("origin", "https://app.test"),
                                                          ("access-control-request-method", "POST")], 200,
          method="OPTIONS", reason=None)
    c.add("rules_options_without_preflight_headers", "rules", "/api", [], 401, None, method="OPTIONS",
          reason="missing_token")
    c.add("rules_regex_get_open", "rules", "/users/42", [], 200, reason=None)
    c.add("rules_regex_post_protected", "rules", "/users/42", [], 401, None, method="POST", reason="missing_token")
    c.add("rules_regex_whole_path_only", "rules", "/users/42/keys", [], 401, None, reason="missing_token")

    # Token profiles and audience_match (issue 20). PyJWT signs; `typ` is PyJWT's header.
    access = claims(client_id="shop-web", groups=["eng", "ops"], **{"kubernetes.io": {"namespace": "shop"}})
    at = {"typ": "at+jwt"}
    c.bearer("profiles_access_token_passes", "profiles", "/api", token("HS256", access, at), 200,
             upstream={"x-jwt-sub": "alice", "x-namespace": "shop", "x-groups": "eng,ops"}, reason=None)
    c.bearer("profiles_typ_media_type_case_and_prefix", "profiles", "/api",
             token("HS256", access, {"typ": "Application/AT+JWT"}), 200, reason=None)
    c.bearer("profiles_id_token_typ_jwt_refused", "profiles", "/api", token("HS256", access), 401, "invalid_token",
             reason="typ_not_allowed")
    c.bearer("profiles_token_without_typ_refused", "profiles", "/api", token("HS256", access, {"typ": None}), 401,
             "invalid_token", reason="typ_not_allowed")
    c.bearer("profiles_typ_checked_after_signature", "profiles", "/api",
             tamper_signature(token("HS256", access, at)), 401, "invalid_token", reason="invalid_signature")
    c.bearer("profiles_missing_required_claim", "profiles", "/api",
             token("HS256", {k: v for k, v in access.items() if k != "client_id"}, at),
             401, "invalid_token", reason="missing_required_claim")
    nested = {k: v for k, v in access.items() if k != "kubernetes.io"}
    nested["kubernetes"] = {"io": {"namespace": "shop"}}
    c.bearer("profiles_nested_object_is_not_the_dotted_key", "profiles", "/api", token("HS256", nested, at), 401,
             "invalid_token", reason="missing_required_claim")
    c.bearer("profiles_subject_not_allowed", "profiles", "/api", token("HS256", dict(access, sub="mallory"), at),
             401, "invalid_token", reason="subject_not_allowed")
    c.bearer("profiles_subject_regex_is_a_whole_match", "profiles", "/api",
             token("HS256", dict(access, sub="alice2"), at), 401, "invalid_token", reason="subject_not_allowed")
    c.bearer("profiles_array_element_with_comma_refused", "profiles", "/api",
             token("HS256", dict(access, groups=["eng,admin"]), at), 401, "invalid_token",
             reason="claim_not_forwardable")
    for name, aud in [("scheme", "http://api.test"), ("trailing_slash", "https://api.test/"),
                      ("bare_host", "api.test")]:
        tok = token("HS256", claims(aud=aud))
        c.bearer(f"profiles_envoy_audience_{name}", "profiles", "/envoy", tok, 200, reason=None,
                 pyjwt_differs="audience_match: envoy ignores the scheme and a trailing slash; PyJWT compares exactly")
        c.bearer(f"profiles_exact_audience_{name}", "profiles", "/exact", tok, 403, "insufficient_scope",
                 reason="audience_not_allowed")
    c.bearer("profiles_envoy_audience_other_path_refused", "profiles", "/envoy",
             token("HS256", claims(aud="https://api.test/v1")), 403, "insufficient_scope", reason="audience_not_allowed")
    c.bearer("profiles_exact_audience_same", "profiles", "/exact", token("HS256", claims(aud=PROFILE_AUD)), 200,
             reason=None)
    return c


# ---- DPoP (RFC 9449) and certificate-bound tokens (RFC 8705) ----
#
# Proofs, JWK thumbprints (RFC 7638, computed here, not by PyJWT) and `ath` made in Python; the
# access tokens are PyJWT RS256 tokens of the corpus issuer. The cases go into the corpus as
# "binding" {"configs", "cases"}; each case is a list of steps on one fresh gateway (replays).
# Requests carry `host: api.test` and no pseudo-headers: the runners add `:authority` (from
# `host`) and `:scheme: http` as the in-host harness does.

DPOP_ALGS = ["ES256", "RS256", "EdDSA"]
HTU = "https://api.test/api/orders"
DPOP_PATH = "/api/orders?page=2"


def rfc7638_thumbprint(jwk):
    required = {"RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"], "OKP": ["crv", "kty", "x"]}
    members = {k: jwk[k] for k in required[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    return b64u(digest.finalize())


def sha256_b64u(data):
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data.encode() if isinstance(data, str) else data)
    return b64u(digest.finalize())


def client_key(alg):
    """The client's proof key (not the issuer's): P-256, RSA-2048 (the attacker file is just
    another key here), Ed25519."""
    return {"ES256": load("attacker-p256"), "RS256": load("attacker-rsa2048"), "EdDSA": load("ed25519")}[alg]


def client_jwk(alg):
    return json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(client_key(alg).public_key()))


def access_token(cnf=None, **extra):
    c = claims(**extra)
    if cnf is not None:
        c["cnf"] = cnf
    return token("RS256", c)


_JTI = iter(range(1, 1_000_000))


def proof(alg="ES256", tok=None, htm="GET", htu=HTU, iat=NOW, jti=None, header=None, payload=None,
          key=None, drop=()):
    """A DPoP proof made with PyJWT; `header`/`payload` entries replace (None: remove) fields.
    Each proof has its own `jti` unless one is given (a host that keeps its replay cache across
    cases, as one NGINX server per configuration does, must not see false replays)."""
    if jti is None:
        jti = f"jti-{next(_JTI)}"
    h = {"typ": "dpop+jwt", "jwk": client_jwk(alg)}
    p = {"htm": htm, "htu": htu, "iat": iat, "jti": jti}
    if tok is not None:
        p["ath"] = sha256_b64u(tok)
    for target, changes in ((h, header or {}), (p, payload or {})):
        for k, v in changes.items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v
    for k in drop:
        p.pop(k, None)
    headers = {k: v for k, v in h.items()}
    # PyJWT puts `alg` (and `typ` when asked) in the header itself.
    return jwt.encode(p, key if key is not None else client_key(alg), algorithm=alg, headers=headers)


def unsigned(header, payload):
    return b64u(json.dumps(header)) + "." + b64u(json.dumps(payload)) + "."


def self_signed_cert():
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    import datetime
    key = load("p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(datetime.datetime(2023, 1, 1))
            .not_valid_after(datetime.datetime(2033, 1, 1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode(), cert.public_bytes(serialization.Encoding.DER)


def binding_configs():
    pem = public_pem(private_key("RS256"))

    def cfg(**provider):
        p = {"issuer": ISS, "audiences": [AUD], "keys": [{"alg": "RS256", "pem": pem}]}
        p.update(provider)
        return {"providers": {"p": p}, "rules": [{"match": {"prefix": "/api"}, "requires": {"provider_name": "p"}}]}

    dpop = {"required": True, "max_age": "300s", "leeway": "5s", "algs": DPOP_ALGS, "scheme": "https",
            "replay_cache": {"max_entries": 100}}
    return {
        "dpop_required": cfg(dpop=dpop),
        "dpop_optional": cfg(dpop=dict(dpop, required=False)),
        "dpop_request_scheme": cfg(dpop={k: v for k, v in dpop.items() if k != "scheme"}),
        "mtls_xfcc": cfg(mtls_binding={"required": True, "certificate_from": {"header": "x-forwarded-client-cert"}}),
        "mtls_optional": cfg(mtls_binding={"required": False, "certificate_from": {"header": "x-forwarded-client-cert"}}),
    }


def binding_cases():
    """Every DPoP field wrong once, replays, clock edges, key confusion; XFCC Hash/Cert."""
    cases = []
    jkt = {alg: rfc7638_thumbprint(client_jwk(alg)) for alg in DPOP_ALGS}
    bound = access_token({"jkt": jkt["ES256"]})
    algs = " ".join(DPOP_ALGS)

    def req(tok, prf=None, scheme="DPoP", extra=(), method="GET", path=DPOP_PATH):
        headers = [("host", "api.test")]
        if tok is not None:
            headers.append(("authorization", f"{scheme} {tok}"))
        if prf is not None:
            headers += [("dpop", x) for x in (prf if isinstance(prf, list) else [prf])]
        headers += list(extra)
        return {"method": method, "path": path, "headers": [list(h) for h in headers]}

    def expect(reason, challenge="DPoP"):
        if reason is None:
            return {"status": 200, "reason": None}
        error = {"dpop_proof_missing": "invalid_dpop_proof", "dpop_proof_invalid": "invalid_dpop_proof",
                 "dpop_replay": "invalid_dpop_proof", "missing_token": None}.get(reason, "invalid_token")
        e = {"status": 401, "reason": reason, "error": error, "challenge": challenge}
        if challenge == "DPoP":
            e["algs"] = algs
        return e

    def add(name, config, steps, now=None):
        assert name not in {c["name"] for c in cases}, name
        case = {"name": name, "config": config, "steps": [{"request": r, "expect": e} for r, e in steps]}
        if now is not None:
            case["now"] = now
        cases.append(case)

    # Valid proofs of each algorithm, each bound token to its own key.
    for alg in DPOP_ALGS:
        tok = access_token({"jkt": jkt[alg]})
        add(f"dpop_valid_{alg}", "dpop_required", [(req(tok, proof(alg, tok)), expect(None))])
    add("dpop_htu_normalized_case_and_default_port", "dpop_required",
        [(req(bound, proof(tok=bound, htu="HTTPS://API.Test:443/api/orders")), expect(None))])
    add("dpop_htu_percent_encoded_unreserved", "dpop_required",
        [(req(bound, proof(tok=bound, htu="https://api.test/%61pi/orders")), expect(None))])
    add("dpop_scheme_lowercase_accepted", "dpop_required",
        [(req(bound, proof(tok=bound), scheme="dpop"), expect(None))])

    # Every field wrong once.
    wrong = {
        "typ_jwt": proof(tok=bound, header={"typ": "JWT"}),
        "typ_missing": unsigned_resign("ES256", bound, lambda h, p: h.pop("typ")),
        "alg_none": unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": client_jwk("ES256")},
                             {"htm": "GET", "htu": HTU, "iat": NOW, "jti": "n", "ath": sha256_b64u(bound)}),
        "alg_hs256_symmetric_jwk": jwt.encode({"htm": "GET", "htu": HTU, "iat": NOW, "jti": "h", "ath": sha256_b64u(bound)},
                                              SECRETS["HS256"], algorithm="HS256",
                                              headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": b64u(SECRETS["HS256"])}}),
        "alg_not_allowed_es384": jwt.encode({"htm": "GET", "htu": HTU, "iat": NOW, "jti": "e", "ath": sha256_b64u(bound)},
                                            load("p384"), algorithm="ES384",
                                            headers={"typ": "dpop+jwt", "jwk": json.loads(jwt.algorithms.get_default_algorithms()["ES384"].to_jwk(load("p384").public_key()))}),
        "jwk_missing": proof(tok=bound, header={"jwk": None}),
        "jwk_private": proof(tok=bound, header={"jwk": json.loads(jwt.algorithms.get_default_algorithms()["ES256"].to_jwk(client_key("ES256")))}),
        "jwk_symmetric_with_es256": proof(tok=bound, header={"jwk": {"kty": "oct", "k": b64u(SECRETS["HS256"])}}),
        "jwk_of_another_key": proof(tok=bound, key=load("p256")),
        "bad_signature": tamper_signature(proof(tok=bound)),
        "htm_post": proof(tok=bound, htm="POST"),
        "htm_missing": proof(tok=bound, drop=("htm",)),
        "htu_with_query": proof(tok=bound, htu=HTU + "?page=2"),
        "htu_other_host": proof(tok=bound, htu="https://evil.test/api/orders"),
        "htu_other_port": proof(tok=bound, htu="https://api.test:8443/api/orders"),
        "htu_other_scheme": proof(tok=bound, htu="http://api.test/api/orders"),
        "htu_other_path": proof(tok=bound, htu="https://api.test/api/admin"),
        "htu_missing": proof(tok=bound, drop=("htu",)),
        "iat_too_old": proof(tok=bound, iat=NOW - 306),
        "iat_in_future": proof(tok=bound, iat=NOW + 6),
        "iat_missing": proof(tok=bound, drop=("iat",)),
        "iat_string": proof(tok=bound, payload={"iat": str(NOW)}),
        "jti_missing": proof(tok=bound, drop=("jti",)),
        "jti_empty": proof(tok=bound, jti=""),
        "ath_missing": proof(tok=None),
        "ath_of_another_token": proof(tok=access_token({"jkt": jkt["ES256"]}, sub="mallory")),
        "not_a_jwt": "not.a.jwt",
    }
    for name, prf in wrong.items():
        add(f"dpop_proof_{name}", "dpop_required", [(req(bound, prf), expect("dpop_proof_invalid"))])
    add("dpop_two_dpop_headers", "dpop_required",
        [(req(bound, [proof(tok=bound), proof(tok=bound, jti="jti-2")]), expect("dpop_proof_invalid"))])
    add("dpop_comma_list_in_one_header", "dpop_required",
        [(req(bound, proof(tok=bound) + ", " + proof(tok=bound, jti="jti-2")), expect("dpop_proof_invalid"))])
    add("dpop_no_proof_header", "dpop_required", [(req(bound), expect("dpop_proof_missing"))])
    # Clock edges: exactly at both limits passes (now - max_age - leeway, now + leeway).
    add("dpop_iat_at_oldest_limit", "dpop_required", [(req(bound, proof(tok=bound, iat=NOW - 305)), expect(None))])
    add("dpop_iat_at_future_limit", "dpop_required", [(req(bound, proof(tok=bound, iat=NOW + 5)), expect(None))])
    # Binding.
    other = access_token({"jkt": jkt["RS256"]})
    add("dpop_cnf_jkt_of_another_key", "dpop_required", [(req(other, proof(tok=other)), expect("dpop_binding_mismatch"))])
    unbound = access_token()
    add("dpop_token_without_cnf", "dpop_required", [(req(unbound, proof(tok=unbound)), expect("dpop_binding_mismatch"))])
    # Replays: the same proof twice, then a fresh jti passes; another token's proof can't reuse it.
    p1 = proof(tok=bound, jti="replayed")
    add("dpop_replay_refused", "dpop_required",
        [(req(bound, p1), expect(None)), (req(bound, p1), expect("dpop_replay")),
         (req(bound, proof(tok=bound, jti="fresh")), expect(None))])
    add("dpop_same_jti_new_proof_refused", "dpop_required",
        [(req(bound, proof(tok=bound, jti="same", iat=NOW - 1)), expect(None)),
         (req(bound, proof(tok=bound, jti="same")), expect("dpop_replay"))])
    # Schemes.
    add("dpop_required_bearer_refused", "dpop_required",
        [(req(bound, proof(tok=bound), scheme="Bearer"), expect("dpop_required"))])
    add("dpop_required_no_token", "dpop_required", [(req(None), expect("missing_token"))])
    add("dpop_access_token_bad_signature", "dpop_required",
        [(req(tamper_signature(bound), proof(tok=tamper_signature(bound))), expect("invalid_signature"))])
    add("dpop_optional_bearer_unbound_passes", "dpop_optional", [(req(unbound, scheme="Bearer"), expect(None))])
    add("dpop_optional_bound_token_as_bearer", "dpop_optional",
        [(req(bound, scheme="Bearer"), expect("dpop_bound_token_as_bearer", challenge="DPoP"))])
    add("dpop_optional_dpop_passes", "dpop_optional", [(req(bound, proof(tok=bound)), expect(None))])
    add("dpop_optional_dpop_without_proof", "dpop_optional", [(req(bound), expect("dpop_proof_missing"))])
    # `:scheme` from the request (the runners say http) when dpop.scheme is not configured.
    add("dpop_request_scheme_http_matches", "dpop_request_scheme",
        [(req(bound, proof(tok=bound, htu="http://api.test/api/orders")), expect(None))])
    add("dpop_request_scheme_https_differs", "dpop_request_scheme",
        [(req(bound, proof(tok=bound)), expect("dpop_proof_invalid"))])

    # mTLS-bound tokens through XFCC.
    cert_pem, cert_der = self_signed_cert()
    digest = hashes.Hash(hashes.SHA256())
    digest.update(cert_der)
    raw = digest.finalize()
    x5t = b64u(raw)
    from urllib.parse import quote
    bound_cert = access_token({"x5t#S256": x5t})
    xfcc_hash = f'By=spiffe://front;Hash={raw.hex()};Subject="/CN=client.test,O=x;y"'
    xfcc_cert = f'By=spiffe://front;Cert="{quote(cert_pem, safe="")}"'
    other_hash = "ab" * 32

    def mreq(tok, xfcc=None):
        headers = [("host", "api.test"), ("authorization", f"Bearer {tok}")]
        if xfcc is not None:
            headers.append(("x-forwarded-client-cert", xfcc))
        return {"method": "GET", "path": "/api/x", "headers": [list(h) for h in headers]}

    add("mtls_xfcc_hash_matches", "mtls_xfcc", [(mreq(bound_cert, xfcc_hash), expect(None))])
    add("mtls_xfcc_cert_matches", "mtls_xfcc", [(mreq(bound_cert, xfcc_cert), expect(None))])
    add("mtls_xfcc_last_element_is_used", "mtls_xfcc",
        [(mreq(bound_cert, f"Hash={other_hash}," + xfcc_hash), expect(None))])
    add("mtls_xfcc_earlier_element_not_used", "mtls_xfcc",
        [(mreq(bound_cert, xfcc_hash + f",Hash={other_hash}"), expect("mtls_binding_mismatch", challenge="Bearer"))])
    add("mtls_xfcc_hash_mismatch", "mtls_xfcc",
        [(mreq(bound_cert, f"Hash={other_hash}"), expect("mtls_binding_mismatch", challenge="Bearer"))])
    add("mtls_xfcc_cert_of_another_certificate", "mtls_xfcc",
        [(mreq(access_token({"x5t#S256": b64u(bytes(32))}), xfcc_cert), expect("mtls_binding_mismatch", challenge="Bearer"))])
    add("mtls_certificate_missing", "mtls_xfcc",
        [(mreq(bound_cert), expect("mtls_certificate_missing", challenge="Bearer"))])
    add("mtls_required_token_not_bound", "mtls_xfcc",
        [(mreq(access_token(), xfcc_hash), expect("mtls_binding_mismatch", challenge="Bearer"))])
    add("mtls_optional_unbound_passes_without_cert", "mtls_optional", [(mreq(access_token()), expect(None))])
    add("mtls_optional_bound_needs_cert", "mtls_optional",
        [(mreq(bound_cert), expect("mtls_certificate_missing", challenge="Bearer"))])
    # Independent checks of what jwtgate must agree with.
    assert jkt["ES256"] != jkt["RS256"]
    return cases


def unsigned_resign(alg, tok, change):
    """A proof whose header/payload `change(h, p)` edits, signed again by PyJWT's algorithm."""
    h = {"typ": "dpop+jwt", "alg": alg, "jwk": client_jwk(alg)}
    p = {"htm": "GET", "htu": HTU, "iat": NOW, "jti": "r", "ath": sha256_b64u(tok)}
    change(h, p)
    return raw_token(alg, client_key(alg), json.dumps(h), json.dumps(p))


def remote_fixture():
    """Key sets and tokens for the remote JWKS in-host tests (tests/host/tests/remote_jwks.rs):
    a set with the RSA key `old`, the rotated set adding the P-256 key `new`, a set mixing
    unusable members with `old`, and PyJWT tokens for each kid (valid for 10 days)."""
    long = claims(exp=NOW + 10 * 86400)
    old = public_jwk("RS256", "old")
    new = public_jwk("ES256", "new", with_alg=True)
    mixed = [{"kty": "oct", "k": b64u(SECRETS["HS256"]), "kid": "sym"},
             dict(public_jwk("RS256", "enc"), use="enc"),
             {"kty": "EC", "crv": "P-256", "kid": "bad", "x": "AAAA", "y": "AAAA"},
             {"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64u(b"\0" * 32)},
             old]
    fixture = {
        "jwks_old": {"keys": [old]},
        "jwks_rotated": {"keys": [old, new]},
        "jwks_mixed": {"keys": mixed},
        "jwks_symmetric_only": {"keys": [mixed[0]]},
        "token_old": token("RS256", long, {"kid": "old"}),
        "token_new": token("ES256", long, {"kid": "new"}),
        "token_unknown_kid": token("ES256", long, {"kid": "ghost"}, key=load("attacker-p256")),
        "token_forged_old": token("RS256", long, {"kid": "old"}, key=load("attacker-rsa2048")),
        "token_hs_as_sym": token("HS256", long, {"kid": "sym"}),
    }
    assert pyjwt_accepts(fixture["token_old"], "RS256", private_key("RS256").public_key())
    assert pyjwt_accepts(fixture["token_new"], "ES256", private_key("ES256").public_key())
    assert not pyjwt_accepts(fixture["token_forged_old"], "RS256", private_key("RS256").public_key())
    return fixture


def rsa_signature_fixture():
    """OpenSSL-made (Python `cryptography`) RSA signatures for the RSA verifier's bit-flip test
    (crates/jwtgate-rsa/tests/verifier.rs): one per RS*/PS* algorithm with the committed
    2048-bit key. A copy is committed as RSA_FIXTURE (`gen.py --rsa-fixture` rewrites it) so
    `cargo test` needs no generated file; the corpus carries fresh signatures ("rsa"), which
    `make test-crypto-wasm` passes to the wasm runs (JWTGATE_RSA_FIXTURE)."""
    from cryptography.hazmat.primitives.asymmetric import padding
    key = load("rsa2048")
    pub = key.public_key().public_numbers()
    hashes = {"256": hashes_mod.SHA256(), "384": hashes_mod.SHA384(), "512": hashes_mod.SHA512()}
    out = {"n": pub.n.to_bytes(256, "big").hex(), "e": pub.e, "signatures": []}
    for bits, h in hashes.items():
        msg = f"jwtgate bit-flip message {bits}".encode()
        pkcs1 = key.sign(msg, padding.PKCS1v15(), h)
        pss = key.sign(msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        out["signatures"].append({"alg": "RS" + bits, "msg": msg.hex(), "sig": pkcs1.hex()})
        out["signatures"].append({"alg": "PS" + bits, "msg": msg.hex(), "sig": pss.hex()})
    return out


def summary(cases):
    """One line: the cases, their reasons, and what PyJWT checked."""
    checked = [c for c in cases if "pyjwt" in c]
    passing = [c for c in checked if c["expect"]["reason"] is None]
    refused = [c for c in checked if c["expect"]["reason"] is not None]
    shared = [c for c in refused if c["expect"]["reason"] in SHARED_CHECKS]
    differs = [c["name"] for c in checked if "pyjwt_differs" in c]
    pyjwt_refuses = [c for c in refused if c["pyjwt"] == "rejects"]
    return (f"corpus: {len(cases)} cases, {sum(c['expect']['reason'] is not None for c in cases)} refusals "
            f"with their reason; PyJWT {jwt.__version__} verified the {len(checked)} tokens: accepts "
            f"{len(passing) - len(differs)} of the {len(passing)} that pass (differs: {', '.join(differs)}), refuses {len(pyjwt_refuses)} of the {len(refused)} refused "
            f"(all {len(shared)} refused for signature/alg/iss/aud/exp/nbf/required exp), "
            f"{len(cases) - len(checked)} cases carry no token")


def main():
    if sys.argv[1:] == ["--new-keys"]:
        new_keys()
        return
    if sys.argv[1:] == ["--rsa-fixture"]:
        with open(RSA_FIXTURE, "w") as f:
            json.dump(rsa_signature_fixture(), f, indent=1)
            f.write("\n")
        print(f"wrote {RSA_FIXTURE}")
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    corpus = build()
    configs = {"pem": per_alg_config("pem"), "jwks": per_alg_config("jwks"), "rfc7515": rfc_config(),
               "sources": sources_config(), "strict": strict_config(), "rules": rules_config(),
               "profiles": profiles_config()}
    used = {case["config"] for case in corpus.cases}
    assert used <= set(configs), used - set(configs)
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    with open(sys.argv[1], "w") as f:
        json.dump({"now": NOW, "configs": configs, "cases": corpus.cases,
                   "remote": remote_fixture(), "rsa": rsa_signature_fixture(),
                   "binding": {"configs": binding_configs(), "cases": binding_cases()}}, f, indent=1)
    print(summary(corpus.cases))


if __name__ == "__main__":
    main()

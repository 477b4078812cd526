//! A gateway with one provider per key family, shared by the request-path targets.
use jwtgate_core::Gateway;

pub const CONFIG: &str = r#"{
  "providers": {
    "hs": {
      "issuer": "https://issuer.test", "audiences": ["api"],
      "keys": [{"kid": "k1", "alg": "HS256", "secret": "0123456789abcdef0123456789abcdef"}],
      "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}, {"name": "x-token"}],
      "from_cookies": ["session"], "from_params": ["access_token"],
      "forward_payload_header": "x-jwt-payload",
      "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}, {"header_name": "x-roles", "claim_name": "realm_access.roles"}]
    },
    "ec": {
      "local_jwks": {"inline_string": "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}"}
    }
  },
  "rules": [
    {"match": {"prefix": "/public"}},
    {"match": {"prefix": "/ec"}, "requires": {"provider_name": "ec"}},
    {"match": {"prefix": "/"}, "requires": {"provider_name": "hs"}}
  ]
}"#;

pub fn gateway() -> Gateway {
    match Gateway::from_json(CONFIG.as_bytes()) {
        Ok(g) => g,
        Err(e) => panic!("fuzz config invalid: {e}"),
    }
}

//! The 13 JWS algorithms jwtgate verifies (the set Envoy's jwt_authn supports) and their families.

/// A JWS `alg` value. Names are case-sensitive (RFC 7515 §4.1.1): `none`, `None`, `hs256` and
/// every other spelling are not algorithms here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
}

/// The key type an algorithm needs. A key belongs to exactly one family, so a token can never
/// make an RSA public key act as an HMAC secret (RS/HS confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Hmac,
    Rsa,
    P256,
    P384,
    P521,
    Ed25519,
}

impl Alg {
    pub const ALL: [Alg; 13] = [
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
        Alg::EdDsa,
    ];

    /// Exact, case-sensitive lookup of a header or configuration `alg`.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
            Alg::EdDsa => "EdDSA",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => Family::Hmac,
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                Family::Rsa
            }
            Alg::Es256 => Family::P256,
            Alg::Es384 => Family::P384,
            Alg::Es512 => Family::P521,
            Alg::EdDsa => Family::Ed25519,
        }
    }

    /// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
    pub fn min_hmac_secret_len(self) -> usize {
        match self {
            Alg::Hs384 => 48,
            Alg::Hs512 => 64,
            _ => 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Alg::ALL {
            assert_eq!(Alg::from_name(alg.name()), Some(alg));
        }
    }

    #[test]
    fn none_and_case_variants_are_not_algorithms() {
        for name in [
            "none", "None", "NONE", "nOnE", "", "hs256", "Hs256", "RS256 ", "ES256K", "Ed25519",
        ] {
            assert_eq!(Alg::from_name(name), None, "{name}");
        }
    }
}

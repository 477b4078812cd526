//! Claim-based authorization (extension; the seeds' `auth_jwt_require`): conditions on verified
//! claims, by name or dotted path. A failed condition answers 403 `insufficient_scope`, or 401
//! when the condition says so.

use serde_json::Value;

use super::claims::lookup;
use super::rejection::Rejection;

/// What a claim must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOp {
    /// JSON equality (numbers compared by value: `1` equals `1.0`).
    Equals(Value),
    /// Equal to one of these.
    OneOf(Vec<Value>),
    /// The claim (an array, or a space-separated string such as `scope`) contains this value.
    Contains(Value),
    /// The claim contains every one of these.
    AllOf(Vec<Value>),
    /// Present (and not null) when true; absent or null when false.
    Present(bool),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
}

/// One condition on one claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub claim: String,
    pub op: ClaimOp,
    /// `ClaimsForbidden` (403, default) or `ClaimsRejected` (401).
    pub rejection: Rejection,
}

impl Condition {
    pub fn holds(&self, claims: &serde_json::Map<String, Value>) -> bool {
        let value = lookup(claims, &self.claim).filter(|v| !v.is_null());
        match (&self.op, value) {
            (ClaimOp::Present(want), v) => v.is_some() == *want,
            (_, None) => false,
            (ClaimOp::Equals(want), Some(v)) => json_eq(v, want),
            (ClaimOp::OneOf(options), Some(v)) => options.iter().any(|o| json_eq(v, o)),
            (ClaimOp::Contains(want), Some(v)) => contains(v, want),
            (ClaimOp::AllOf(wants), Some(v)) => wants.iter().all(|w| contains(v, w)),
            (ClaimOp::Gt(n), Some(v)) => v.as_f64().is_some_and(|x| x > *n),
            (ClaimOp::Gte(n), Some(v)) => v.as_f64().is_some_and(|x| x >= *n),
            (ClaimOp::Lt(n), Some(v)) => v.as_f64().is_some_and(|x| x < *n),
            (ClaimOp::Lte(n), Some(v)) => v.as_f64().is_some_and(|x| x <= *n),
        }
    }
}

/// The first condition that fails, as its rejection.
pub fn check_all(
    conditions: &[Condition],
    claims: &serde_json::Map<String, Value>,
) -> Result<(), Rejection> {
    match conditions.iter().find(|c| !c.holds(claims)) {
        Some(failed) => Err(failed.rejection),
        None => Ok(()),
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::Array(items) => items.iter().any(|item| json_eq(item, needle)),
        // OAuth `scope` (RFC 8693 §4.2): space-separated, exact words only.
        Value::String(words) => needle
            .as_str()
            .is_some_and(|n| words.split(' ').any(|w| w == n)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> serde_json::Map<String, Value> {
        json!({
            "sub": "alice",
            "role": "admin",
            "level": 3,
            "scope": "read write:all",
            "realm_access": {"roles": ["user", "admin"]},
            "groups": [1, 2],
            "nothing": null,
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn cond(claim: &str, op: ClaimOp) -> Condition {
        Condition {
            claim: claim.into(),
            op,
            rejection: Rejection::ClaimsForbidden,
        }
    }

    #[test]
    fn operator_table() {
        let c = claims();
        for (claim, op, want) in [
            ("role", ClaimOp::Equals(json!("admin")), true),
            ("role", ClaimOp::Equals(json!("Admin")), false),
            ("level", ClaimOp::Equals(json!(3.0)), true),
            ("level", ClaimOp::Equals(json!("3")), false),
            (
                "role",
                ClaimOp::OneOf(vec![json!("editor"), json!("admin")]),
                true,
            ),
            ("role", ClaimOp::OneOf(vec![json!("editor")]), false),
            (
                "realm_access.roles",
                ClaimOp::Contains(json!("admin")),
                true,
            ),
            (
                "realm_access.roles",
                ClaimOp::Contains(json!("root")),
                false,
            ),
            ("scope", ClaimOp::Contains(json!("write:all")), true),
            ("scope", ClaimOp::Contains(json!("write")), false),
            ("scope", ClaimOp::Contains(json!("read write:all")), false),
            ("groups", ClaimOp::Contains(json!(2)), true),
            ("role", ClaimOp::Contains(json!("adm")), false),
            (
                "scope",
                ClaimOp::AllOf(vec![json!("read"), json!("write:all")]),
                true,
            ),
            (
                "scope",
                ClaimOp::AllOf(vec![json!("read"), json!("delete")]),
                false,
            ),
            ("realm_access.roles", ClaimOp::AllOf(vec![]), true),
            ("sub", ClaimOp::Present(true), true),
            ("nope", ClaimOp::Present(true), false),
            ("nope", ClaimOp::Present(false), true),
            ("nothing", ClaimOp::Present(false), true),
            ("nothing", ClaimOp::Present(true), false),
            ("level", ClaimOp::Gt(2.0), true),
            ("level", ClaimOp::Gt(3.0), false),
            ("level", ClaimOp::Gte(3.0), true),
            ("level", ClaimOp::Lt(3.0), false),
            ("level", ClaimOp::Lte(3.0), true),
            ("role", ClaimOp::Gt(0.0), false),
            ("nope", ClaimOp::Equals(json!(null)), false),
            ("nope", ClaimOp::Lt(1e9), false),
        ] {
            assert_eq!(cond(claim, op.clone()).holds(&c), want, "{claim} {op:?}");
        }
    }

    #[test]
    fn first_failure_decides_the_status() {
        let c = claims();
        let mut rejected = cond("role", ClaimOp::Equals(json!("root")));
        rejected.rejection = Rejection::ClaimsRejected;
        assert_eq!(
            check_all(&[cond("sub", ClaimOp::Present(true)), rejected.clone()], &c),
            Err(Rejection::ClaimsRejected)
        );
        assert_eq!(
            check_all(&[cond("x", ClaimOp::Present(true)), rejected], &c),
            Err(Rejection::ClaimsForbidden)
        );
        assert_eq!(check_all(&[], &c), Ok(()));
    }
}

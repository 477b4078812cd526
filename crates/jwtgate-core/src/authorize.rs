//! Claim-based authorization (extension; the seeds' `auth_jwt_require`): conditions on verified
//! claims, by name or dotted path. A failed condition answers 403 `insufficient_scope`, or 401
//! when the condition says so.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::claims::lookup;
use super::rejection::Rejection;

/// What a claim must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOp {
    /// JSON equality (numbers compared by value: `1` equals `1.0`; integers exactly, never
    /// through f64: `9007199254740993` does not equal `9007199254740992`).
    Equals(Value),
    /// Equal to one of these.
    OneOf(Vec<Value>),
    /// The claim (an array, or a space-separated string such as `scope`) contains this value.
    Contains(Value),
    /// The claim contains every one of these.
    AllOf(Vec<Value>),
    /// Present (and not null) when true; absent or null when false.
    Present(bool),
    /// Numeric comparisons, exact for integers (see [`compare_numbers`]).
    Gt(Number),
    Gte(Number),
    Lt(Number),
    Lte(Number),
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
            (ClaimOp::Gt(n), Some(v)) => compare(v, n).is_some_and(Ordering::is_gt),
            (ClaimOp::Gte(n), Some(v)) => compare(v, n).is_some_and(Ordering::is_ge),
            (ClaimOp::Lt(n), Some(v)) => compare(v, n).is_some_and(Ordering::is_lt),
            (ClaimOp::Lte(n), Some(v)) => compare(v, n).is_some_and(Ordering::is_le),
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

/// A claim (which must be a number: strings are never converted) against a number.
fn compare(claim: &Value, n: &Number) -> Option<Ordering> {
    match claim {
        Value::Number(x) => compare_numbers(x, n),
        _ => None,
    }
}

/// Orders two JSON numbers exactly: integers (i64/u64) as integers, an integer against a
/// float without rounding the integer to f64 (which loses everything past 2^53), floats as
/// floats.
pub fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(x), None) => integer_vs_float(x, b.as_f64()?),
        (None, Some(y)) => integer_vs_float(y, a.as_f64()?).map(Ordering::reverse),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn integer_vs_float(i: i128, f: f64) -> Option<Ordering> {
    // 2^64 and -2^63 bound every i64/u64 integer.
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return None;
    }
    if f >= TWO_POW_64 {
        return Some(Ordering::Less);
    }
    if f < MINUS_TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // |whole| < 2^64: the conversion is exact.
    match i.cmp(&(whole as i128)) {
        // Same integer part: the fraction decides.
        Ordering::Equal => whole.partial_cmp(&f),
        other => Some(other),
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
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

    fn n(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn numbers_compare_exactly() {
        let num = |v: Value| n(v);
        let big = num(json!(9007199254740992u64));
        let big1 = num(json!(9007199254740993u64));
        assert_eq!(compare_numbers(&big, &big1), Some(Ordering::Less));
        assert_eq!(
            compare_numbers(&big1, &num(json!(9007199254740992.0))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_numbers(&num(json!(1)), &num(json!(1.0))),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare_numbers(&num(json!(-1)), &num(json!(-0.5))),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_numbers(&num(json!(-1)), &num(json!(-1.5))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_numbers(&num(json!(u64::MAX)), &num(json!(1.8446744073709552e19))),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_numbers(&num(json!(i64::MIN)), &num(json!(-1e300))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_numbers(&num(json!(u64::MAX)), &num(json!(i64::MIN))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_numbers(&num(json!(0.5)), &num(json!(0.25))),
            Some(Ordering::Greater)
        );
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
            ("level", ClaimOp::Gt(n(json!(2.0))), true),
            ("level", ClaimOp::Gt(n(json!(3))), false),
            ("level", ClaimOp::Gt(n(json!(2.5))), true),
            ("level", ClaimOp::Gte(n(json!(3.0))), true),
            ("level", ClaimOp::Lt(n(json!(3))), false),
            ("level", ClaimOp::Lt(n(json!(3.5))), true),
            ("level", ClaimOp::Lte(n(json!(3.0))), true),
            ("role", ClaimOp::Gt(n(json!(0))), false),
            ("nope", ClaimOp::Equals(json!(null)), false),
            ("nope", ClaimOp::Lt(n(json!(1e9))), false),
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

//! The configuration's JSON (already parsed by `strict_json`, duplicate keys refused) read into
//! the raw types of `raw.rs`, by hand. serde's derived code for those ~35 types was ~150 KB of
//! the filter (725,812 → 572,761 bytes without it); this reader is generic over nothing. Paths
//! are tracked as the reader descends (`providers.a.keys[0].secret`); messages keep serde's
//! wording (`unknown field`, `missing field`, `invalid type`), which tests and users know.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use super::{err, ConfigError};

/// A value the configuration reader can build from JSON at path `at`.
pub(super) trait Read: Sized {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError>;
}

/// The path of member `name` inside the value at `at`.
pub(super) fn member(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

/// A number as JSON writes it. `Number`'s `Display` would link core's float printing (~11 KB
/// of the filter) for these messages alone; serde_json's writer is in the filter anyway.
pub(super) fn number_text(n: &Number) -> String {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u.to_string(),
        (None, Some(i)) => i.to_string(),
        _ => serde_json::to_string(n).unwrap_or_default(),
    }
}

/// How serde names a JSON value in `invalid type` messages.
fn unexpected(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{}`", number_text(n)),
        Value::Number(n) => format!("integer `{}`", number_text(n)),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".into(),
        Value::Object(_) => "map".into(),
    }
}

pub(super) fn invalid_type(v: &Value, at: &str, expected: &str) -> ConfigError {
    err(
        at,
        format!("invalid type: {}, expected {expected}", unexpected(v)),
    )
}

/// serde's list of what was expected: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        all => format!("one of {}", all.join(", ")),
    }
}

/// An object's members, each read once by name; any other member is an error.
pub(super) struct Fields<'a> {
    map: &'a Map<String, Value>,
    at: &'a str,
}

impl<'a> Fields<'a> {
    /// The object at `at`, whose members must all be among `known`.
    pub(super) fn new(v: &'a Value, at: &'a str, known: &[&str]) -> Result<Self, ConfigError> {
        let Value::Object(map) = v else {
            return Err(invalid_type(v, at, "an object"));
        };
        if let Some(name) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(err(
                member(at, name),
                format!("unknown field `{name}`, expected {}", one_of(known)),
            ));
        }
        Ok(Fields { map, at })
    }

    /// A member that must be there.
    pub(super) fn required<T: Read>(&self, name: &str) -> Result<T, ConfigError> {
        match self.map.get(name) {
            Some(v) => T::read(v, &member(self.at, name)),
            None => Err(err(self.at, format!("missing field `{name}`"))),
        }
    }

    /// A member that may be left out (its default then; `None` for an `Option`).
    pub(super) fn optional<T: Read + Default>(&self, name: &str) -> Result<T, ConfigError> {
        match self.map.get(name) {
            Some(v) => T::read(v, &member(self.at, name)),
            None => Ok(T::default()),
        }
    }
}

/// A string naming one of `variants` (serde's `rename_all` enums).
pub(super) fn variant<T: Copy>(
    v: &Value,
    at: &str,
    variants: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Value::String(s) = v else {
        return Err(invalid_type(v, at, "a string"));
    };
    match variants.iter().find(|(name, _)| name == s) {
        Some((_, value)) => Ok(*value),
        None => {
            let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
            Err(err(
                at,
                format!("unknown variant `{s}`, expected {}", one_of(&names)),
            ))
        }
    }
}

impl Read for String {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(invalid_type(v, at, "a string")),
        }
    }
}

impl Read for bool {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::Bool(b) => Ok(*b),
            _ => Err(invalid_type(v, at, "a boolean")),
        }
    }
}

/// Unsigned integers as serde reads them: a JSON integer in range (`invalid value` when
/// negative or too large, `invalid type` for anything else, fractions included).
fn unsigned(v: &Value, at: &str, name: &str, max: u64) -> Result<u64, ConfigError> {
    let Value::Number(n) = v else {
        return Err(invalid_type(v, at, name));
    };
    if n.is_f64() {
        return Err(invalid_type(v, at, name));
    }
    match n.as_u64() {
        Some(x) if x <= max => Ok(x),
        _ => Err(err(
            at,
            format!(
                "invalid value: integer `{}`, expected {name}",
                number_text(n)
            ),
        )),
    }
}

impl Read for u32 {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let x = unsigned(v, at, "u32", u32::MAX.into())?;
        u32::try_from(x).map_err(|_| invalid_type(v, at, "u32"))
    }
}

impl Read for u64 {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        unsigned(v, at, "u64", u64::MAX)
    }
}

impl Read for usize {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        let x = unsigned(v, at, "usize", max)?;
        usize::try_from(x).map_err(|_| invalid_type(v, at, "usize"))
    }
}

impl Read for Number {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::Number(n) => Ok(n.clone()),
            _ => Err(invalid_type(v, at, "a number")),
        }
    }
}

impl Read for Value {
    fn read(v: &Value, _at: &str) -> Result<Self, ConfigError> {
        Ok(v.clone())
    }
}

/// `null` is `None`, as serde reads an `Option`.
impl<T: Read> Read for Option<T> {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::Null => Ok(None),
            v => T::read(v, at).map(Some),
        }
    }
}

impl<T: Read> Read for Vec<T> {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let Value::Array(items) = v else {
            return Err(invalid_type(v, at, "a sequence"));
        };
        // A loop, not `collect` into a `Result`: that adapter (GenericShunt) was instantiated
        // per element type.
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(T::read(item, &format!("{at}[{i}]"))?);
        }
        Ok(out)
    }
}

impl<T: Read> Read for BTreeMap<String, T> {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let Value::Object(map) = v else {
            return Err(invalid_type(v, at, "a map"));
        };
        // Inserted one by one: `collect` into a BTreeMap sorts first (a stable sort
        // instantiated per map type, ~4 KB each in the filter).
        let mut out = BTreeMap::new();
        for (k, item) in map {
            out.insert(k.clone(), T::read(item, &member(at, k))?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: Read>(json: &str) -> Result<T, ConfigError> {
        T::read(&serde_json::from_str(json).unwrap(), "f")
    }

    #[test]
    fn numbers_are_read_as_serde_reads_them() {
        assert_eq!(read::<u32>("7"), Ok(7));
        assert_eq!(read::<u64>("18446744073709551615"), Ok(u64::MAX));
        for (json, message) in [
            ("-1", "invalid value: integer `-1`, expected u32"),
            (
                "4294967296",
                "invalid value: integer `4294967296`, expected u32",
            ),
            ("1.5", "invalid type: floating point `1.5`, expected u32"),
            ("\"1\"", "invalid type: string \"1\", expected u32"),
            ("null", "invalid type: null, expected u32"),
        ] {
            assert_eq!(read::<u32>(json), Err(err("f", message)), "{json}");
        }
        assert_eq!(
            read::<u64>("-2.5"),
            Err(err(
                "f",
                "invalid type: floating point `-2.5`, expected u64"
            ))
        );
        assert_eq!(
            read::<usize>("true"),
            Err(err("f", "invalid type: boolean `true`, expected usize"))
        );
    }

    #[test]
    fn options_sequences_and_maps_name_the_element() {
        assert_eq!(read::<Option<String>>("null"), Ok(None));
        assert_eq!(read::<Option<bool>>("true"), Ok(Some(true)));
        assert_eq!(
            read::<Vec<String>>(r#"["a", 1]"#),
            Err(err("f[1]", "invalid type: integer `1`, expected a string"))
        );
        assert_eq!(
            read::<BTreeMap<String, bool>>(r#"{"x": true, "y": []}"#),
            Err(err("f.y", "invalid type: sequence, expected a boolean"))
        );
        assert_eq!(
            read::<Vec<bool>>("{}"),
            Err(err("f", "invalid type: map, expected a sequence"))
        );
    }

    #[test]
    fn fields_refuse_unknown_members_and_name_missing_ones() {
        let v: Value = serde_json::from_str(r#"{"a": 1, "zz": 2}"#).unwrap();
        let e = Fields::new(&v, "p", &["a", "b", "c"]).err().unwrap();
        assert_eq!(
            e,
            err("p.zz", "unknown field `zz`, expected one of `a`, `b`, `c`")
        );
        let e = Fields::new(&v, "", &["a", "b"]).err().unwrap();
        assert_eq!(e, err("zz", "unknown field `zz`, expected `a` or `b`"));
        let v: Value = serde_json::from_str(r#"{"a": 1}"#).unwrap();
        let f = Fields::new(&v, "p", &["a", "b"]).unwrap();
        assert_eq!(f.required::<u32>("a"), Ok(1));
        assert_eq!(f.optional::<Option<u32>>("b"), Ok(None));
        assert_eq!(f.optional::<Vec<u32>>("b"), Ok(vec![]));
        assert_eq!(f.required::<u32>("b"), Err(err("p", "missing field `b`")));
        assert_eq!(
            Fields::new(&Value::Null, "p", &[]).err(),
            Some(err("p", "invalid type: null, expected an object"))
        );
    }

    #[test]
    fn variants_are_named_strings() {
        let v = Value::from("b");
        assert_eq!(variant(&v, "f", &[("a", 1), ("b", 2)]), Ok(2));
        let v = Value::from("z");
        assert_eq!(
            variant(&v, "f", &[("a", 1), ("b", 2), ("c", 3)]),
            Err(err(
                "f",
                "unknown variant `z`, expected one of `a`, `b`, `c`"
            ))
        );
    }
}

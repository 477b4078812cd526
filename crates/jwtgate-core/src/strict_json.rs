//! JSON parsing that refuses duplicate object keys at any depth.
//!
//! serde_json keeps the last of two equal keys; another JWT library may keep the first. A token
//! `{"sub":"alice","sub":"admin"}` would then mean different things to the filter and to the
//! upstream, so jwtgate rejects it (RFC 7515 §4: a JOSE header with duplicate names MUST be
//! rejected or use the last one; for claims we choose rejection everywhere).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `bytes` as one JSON value, rejecting duplicate keys. serde_json's recursion limit
/// (128) bounds nesting.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Parses `bytes` as a JSON object, rejecting duplicate keys.
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match parse(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(StrictValue)?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_objects_and_nesting() {
        let v = parse(br#"{"a":1,"b":{"c":[1,2,{"d":true}]},"e":null,"f":1.5}"#).unwrap();
        assert_eq!(v["b"]["c"][2]["d"], true);
        assert_eq!(v["f"], 1.5);
    }

    #[test]
    fn rejects_duplicate_keys_at_top_level() {
        assert!(parse(br#"{"sub":"alice","sub":"admin"}"#).is_err());
    }

    #[test]
    fn rejects_duplicate_keys_when_nested() {
        assert!(parse(br#"{"a":[{"x":1,"x":2}]}"#).is_err());
        assert!(parse(br#"{"a":{"x":1,"x":1}}"#).is_err());
    }

    #[test]
    fn escaped_duplicate_is_still_a_duplicate() {
        assert!(parse(br#"{"sub":"a","s\u0075b":"b"}"#).is_err());
    }

    #[test]
    fn rejects_trailing_data_and_bad_utf8() {
        assert!(parse(br#"{"a":1} x"#).is_err());
        assert!(parse(b"{\"a\":\"\xff\"}").is_err());
        assert!(parse(br#"{"a":"\ud800"}"#).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn parse_object_refuses_non_objects() {
        assert!(parse_object(b"[1]").is_none());
        assert!(parse_object(b"\"x\"").is_none());
        assert!(parse_object(b"{}").is_some());
    }
}

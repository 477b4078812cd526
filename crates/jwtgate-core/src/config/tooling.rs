//! What only the `jwtgate` CLI asks of the configuration (feature `cli`): its JSON Schema and
//! every error at once.

use serde_json::Value;

use super::raw::RawConfig;
use super::ConfigError;
use crate::gateway::Gateway;
use crate::strict_json;

impl Gateway {
    /// The configuration's JSON Schema (Draft 4, as Kong's `config_schema` wants), generated
    /// from the types the parser uses. The parser stays the authority (it checks values the
    /// schema cannot: key material, regexes, header names, cross-references).
    pub fn json_schema() -> Value {
        let settings = schemars::gen::SchemaSettings::draft07().with(|s| {
            s.option_add_null_type = false;
        });
        let schema = settings
            .into_generator()
            .into_root_schema_for::<RawConfig>();
        let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
        draft4(&mut value);
        if let Value::Object(map) = &mut value {
            map.insert(
                "$schema".into(),
                Value::String("http://json-schema.org/draft-04/schema#".into()),
            );
            map.insert(
                "title".into(),
                Value::String("jwtgate configuration".into()),
            );
        }
        value
    }

    /// Every error of a configuration, not just the first (for `jwtgate check`): the top level,
    /// each provider, each auth service and each rule are checked on their own (rules against
    /// stand-in providers of the same names), then the whole. Empty: the configuration is valid.
    pub fn check_all(bytes: &[u8]) -> Vec<ConfigError> {
        let whole = match Gateway::from_json(bytes) {
            Ok(_) => return Vec::new(),
            Err(e) => e,
        };
        let Ok(Value::Object(root)) = strict_json::parse(bytes) else {
            return vec![whole];
        };
        let object = |key: &str| match root.get(key) {
            None => Some(serde_json::Map::new()),
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => None,
        };
        let (Some(providers), Some(services)) = (object("providers"), object("ext_auth")) else {
            return vec![whole];
        };
        let rules = match root.get("rules") {
            None => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => return vec![whole],
        };
        let check = |config: Value| Gateway::from_json(config.to_string().as_bytes()).err();
        let mut errors = Vec::new();

        // The top level field by field: the parser stops at its first error, so one wrong
        // field must not hide the next.
        let mut top = root.clone();
        top.remove("providers");
        top.remove("ext_auth");
        top.remove("rules");
        let top_errors: Vec<ConfigError> = top
            .iter()
            .filter_map(|(key, value)| check(serde_json::json!({key: value})))
            .collect();
        match top_errors.is_empty() {
            true => errors.extend(check(Value::Object(top))),
            false => errors.extend(top_errors),
        }
        for (name, provider) in &providers {
            errors.extend(provider_errors(name, provider));
        }
        for (name, service) in &services {
            errors.extend(check(serde_json::json!({"ext_auth": {name: service}})));
        }
        // Stand-ins, so a rule is judged on its own and not on its providers' errors.
        let stub_providers: serde_json::Map<String, Value> = providers
            .keys()
            .map(|name| {
                let secret = "stand-in-secret-of-at-least-32-bytes";
                (
                    name.clone(),
                    serde_json::json!({"keys": [{"alg": "HS256", "secret": secret}]}),
                )
            })
            .collect();
        let stub_services: serde_json::Map<String, Value> = services
            .keys()
            .map(|name| {
                let uri = serde_json::json!({"uri": "http://stand-in/"});
                (name.clone(), serde_json::json!({"http_uri": uri}))
            })
            .collect();
        for (i, rule) in rules.iter().enumerate() {
            let config = serde_json::json!({
                "providers": stub_providers, "ext_auth": stub_services, "rules": [rule]});
            if let Some(mut e) = check(config) {
                if let Some(rest) = e.path.strip_prefix("rules[0]") {
                    e.path = format!("rules[{i}]{rest}");
                }
                errors.push(e);
            }
        }
        if errors.is_empty() {
            errors.push(whole); // a conflict between parts (e.g. a header read and set)
        }
        errors.dedup_by(|a, b| a.path == b.path && a.message == b.message);
        errors
    }
}

/// Every error of one provider (for [`Gateway::check_all`]). The parser stops at a provider's
/// first error (a type error stops it before any value is looked at), so each key of `keys`,
/// `local_jwks`, `remote_jwks`, `introspection` and every other field is checked on its own,
/// beside a stand-in key (an introspection provider's: a stand-in endpoint); the provider as a whole decides only when no part fails (a conflict between fields).
fn provider_errors(name: &str, provider: &Value) -> Vec<ConfigError> {
    let check = |p: Value| {
        Gateway::from_json(
            serde_json::json!({"providers": {name: p}})
                .to_string()
                .as_bytes(),
        )
        .err()
    };
    let Some(whole) = check(provider.clone()) else {
        return Vec::new();
    };
    let Value::Object(fields) = provider else {
        return vec![whole];
    };
    let stand_in =
        serde_json::json!([{"alg": "HS256", "secret": "stand-in-secret-of-at-least-32-bytes"}]);
    let at = format!("providers.{name}");
    let mut errors = Vec::new();
    for (field, value) in fields {
        match (field.as_str(), value) {
            ("keys", Value::Array(keys)) => {
                for (i, key) in keys.iter().enumerate() {
                    if let Some(mut e) = check(serde_json::json!({"keys": [key]})) {
                        if let Some(rest) = e.path.strip_prefix(&format!("{at}.keys[0]")) {
                            e.path = format!("{at}.keys[{i}]{rest}");
                        }
                        errors.push(e);
                    }
                }
            }
            ("keys" | "local_jwks" | "remote_jwks" | "introspection", _) => {
                errors.extend(check(serde_json::json!({field: value})));
            }
            // An introspection provider's other fields beside a stand-in endpoint (keys would
            // conflict with it).
            _ if fields.contains_key("introspection") => errors.extend(check(serde_json::json!({
                field: value,
                "introspection": {"http_uri": {"uri": "http://stand-in/"},
                                  "client_id": "stand-in", "client_secret": "stand-in"}}))),
            _ => errors.extend(check(serde_json::json!({field: value, "keys": stand_in}))),
        }
    }
    if errors.is_empty() {
        errors.push(whole); // no key at all, too many keys, or fields in conflict
    }
    errors
}

/// Draft 4 has no boolean schemas: `true` becomes `{}`, `false` `{"not": {}}` wherever a schema
/// stands (`additionalProperties: false` stays, Draft 4 allows it).
fn draft4(schema: &mut Value) {
    fn fix(v: &mut Value) {
        match v {
            Value::Bool(true) => *v = Value::Object(serde_json::Map::new()),
            Value::Bool(false) => *v = serde_json::json!({"not": {}}),
            _ => draft4(v),
        }
    }
    let Value::Object(map) = schema else { return };
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "definitions" | "patternProperties", Value::Object(children)) => {
                children.values_mut().for_each(fix)
            }
            ("anyOf" | "allOf" | "oneOf", Value::Array(list)) => list.iter_mut().for_each(fix),
            ("items" | "additionalItems" | "not", v) => fix(v),
            ("additionalProperties", v @ Value::Object(_)) => draft4(v),
            _ => {}
        }
    }
}

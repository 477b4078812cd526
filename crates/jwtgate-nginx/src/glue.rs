//! The NGINX-independent half of the module: request bytes into the core's `Request`, and a
//! decision's header changes applied to a header list. Pure, so it is unit-tested without a
//! running NGINX.

use jwtgate_core::HeaderOp;
use serde_json::Value;
use std::path::Path;

/// `:path` as text: the same encoding as the wasm filter's (`core::request::path_text`).
pub fn encode_path(raw: &[u8]) -> String {
    jwtgate_core::request::path_text(raw)
}

/// Bytes as text for the core: UTF-8 as it is, anything else decoded lossily (a token or a
/// claim header never survives a U+FFFD).
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One entry of the rebuilt header list: an entry the client sent (its index in the original
/// list) or one the decision adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Kept(usize),
    Added(String, String),
}

/// The header list after `ops`, or `None` when the ops change no header (so the list is left
/// as it is). `names` are the original entries' names, in order. Removal is by name up to
/// ASCII case: every entry of that name goes, whatever spelling the client used (the core asks
/// for one removal per spelling). `Set` removes every entry of the name, then appends one.
/// `:path` is not a header: see [`path_change`].
pub fn plan(names: &[&[u8]], ops: &[HeaderOp]) -> Option<Vec<Entry>> {
    // Nothing to do (the common case: no header removed or set) costs no allocation.
    let touches = |name: &str| {
        names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    };
    if !ops.iter().any(|op| match op {
        HeaderOp::Remove(name) => touches(name),
        HeaderOp::Set(name, _) => !name.starts_with(':'),
    }) {
        return None;
    }
    let mut entries: Vec<Entry> = (0..names.len()).map(Entry::Kept).collect();
    let mut changed = false;
    fn name_of<'a>(names: &[&'a [u8]], e: &'a Entry) -> &'a [u8] {
        match e {
            Entry::Kept(i) => names[*i],
            Entry::Added(n, _) => n.as_bytes(),
        }
    }
    for op in ops {
        let (name, add) = match op {
            HeaderOp::Remove(name) => (name, None),
            HeaderOp::Set(name, _) if name.starts_with(':') => continue,
            HeaderOp::Set(name, value) => (name, Some(value)),
        };
        let before = entries.len();
        entries.retain(|e| !name_of(names, e).eq_ignore_ascii_case(name.as_bytes()));
        changed |= entries.len() != before;
        if let Some(value) = add {
            entries.push(Entry::Added(name.clone(), value.clone()));
            changed = true;
        }
    }
    changed.then_some(entries)
}

/// The new `:path` (path and query as sent on the wire) when the decision changes it.
pub fn path_change(ops: &[HeaderOp]) -> Option<&str> {
    ops.iter().rev().find_map(|op| match op {
        HeaderOp::Set(name, value) if name == ":path" => Some(value.as_str()),
        _ => None,
    })
}

/// A header of the local response that NGINX writes itself (`ngx_http_send_response` sets the
/// content type and length).
pub fn written_by_nginx(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-length")
}

/// The configuration with every `providers.<name>.local_jwks.filename` read (relative to
/// `base`, the configuration file's directory) and put inline as `inline_string`: NGINX's
/// master reads it when the configuration is loaded, so the core sees the same JSON as the
/// wasm filter's. `Ok(None)`: nothing to read (or not JSON: the core reports that).
pub fn inline_files(bytes: &[u8], base: &Path) -> Result<Option<Vec<u8>>, String> {
    let Ok(mut value) = jwtgate_core::strict_json::parse(bytes) else {
        return Ok(None);
    };
    let mut changed = false;
    let providers = value.get_mut("providers").and_then(Value::as_object_mut);
    for (name, provider) in providers.into_iter().flatten() {
        let Some(jwks) = provider
            .get_mut("local_jwks")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if jwks.len() != 1 {
            continue; // the core says "set exactly one of …"
        }
        let Some(Value::String(file)) = jwks.get("filename") else {
            continue;
        };
        let at = format!("providers.{name}.local_jwks.filename");
        let path = base.join(file);
        let text = std::fs::read(&path)
            .map_err(|e| format!("{at}: cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8(text)
            .map_err(|_| format!("{at}: {} is not UTF-8", path.display()))?;
        jwks.clear();
        jwks.insert("inline_string".into(), Value::String(text));
        changed = true;
    }
    if !changed {
        return Ok(None);
    }
    serde_json::to_vec(&value)
        .map(Some)
        .map_err(|e| e.to_string())
}

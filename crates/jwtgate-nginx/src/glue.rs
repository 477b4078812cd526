//! The NGINX-independent half of the module: cluster names, a decision's header changes applied
//! to a header list, claim variables, key files. Pure, so it is unit-tested without a
//! running NGINX.

use jwtgate_core::claims;
use jwtgate_core::HeaderOp;
use serde_json::{Map, Value};
use std::path::Path;

/// Whether a cluster name can be the segment of an internal location `/_jwtgate/<cluster>/`
/// (and of the subrequest's URI) as it is: no separator, escape or space.
pub fn is_location_segment(cluster: &str) -> bool {
    !cluster.is_empty()
        && cluster != "."
        && cluster != ".."
        && !cluster
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'%' | b'\\' | b' ') || b < 0x21 || b == 0x7f)
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

/// The prefix of the claim variables, `$jwtgate_claim_<name>`.
pub const CLAIM_VARIABLE_PREFIX: &str = "jwtgate_claim_";

/// The claim that a `$jwtgate_claim_<name>` variable names, as the core's dotted claim name.
/// NGINX variable names hold only letters, digits and `_`, and NGINX lower-cases them, so `__`
/// stands for `.`: `$jwtgate_claim_realm_access__roles` is `realm_access.roles`. `None` when
/// `variable` is not such a name.
pub fn claim_name(variable: &[u8]) -> Option<String> {
    let prefix = CLAIM_VARIABLE_PREFIX.as_bytes();
    let head = variable.get(..prefix.len())?;
    let rest = variable.get(prefix.len()..).filter(|r| !r.is_empty())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = std::str::from_utf8(rest).ok()?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// The text of claim `name` (from [`claim_name`]) in the first of `tokens` (verified claim
/// sets) that has it: the core's `claim_to_headers` rendering (`claims::header_text`: strings
/// as they are, numbers and booleans as JSON text, arrays joined with `,`, objects as compact
/// JSON). `None`: no such claim, `null`, an empty array, or a value `claim_to_headers` refuses
/// to send (control characters, leading or trailing whitespace, …). A name is looked up as the
/// core does (`claims::lookup`: a literal top-level name, then a dotted path), then segment by
/// segment up to ASCII case (NGINX lower-cases variable names: `$jwtgate_claim_isadmin` finds
/// `isAdmin`).
pub fn claim_text(tokens: &[&Map<String, Value>], name: &str) -> Option<String> {
    tokens.iter().find_map(|c| {
        let value = claims::lookup(c, name).or_else(|| lookup_any_case(c, name))?;
        claims::header_text(value).ok().flatten()
    })
}

fn lookup_any_case<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    fn find<'c>(map: &'c Map<String, Value>, part: &str) -> Option<&'c Value> {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(part))
            .map(|(_, v)| v)
    }
    let mut parts = name.split('.');
    let mut current = find(claims, parts.next()?)?;
    for part in parts {
        current = find(current.as_object()?, part)?;
    }
    Some(current)
}

/// The configuration with its files read, relative to `base` (the configuration file's
/// directory), and put inline, so the core sees the same JSON as the wasm filter's:
/// - `providers.<name>.local_jwks.filename` becomes `inline_string`;
/// - `providers.<name>.keys[i].pem_file` becomes `pem` (the file's text);
/// - `providers.<name>.keys[i].secret_file` becomes `secret` (the file's text without one
///   trailing newline, `\n` or `\r\n`; `encoding` applies as to an inline `secret`).
///
/// NGINX's master reads them when the configuration is loaded (the workers need no access).
/// `pem_file` and `secret_file` exist only here: the wasm filter, which cannot read files,
/// refuses them as unknown fields. `Ok(None)`: nothing to read (or not JSON: the core reports
/// that). Errors name the field, e.g. `providers.p.keys[0].pem_file: cannot read …`.
pub fn inline_files(bytes: &[u8], base: &Path) -> Result<Option<Vec<u8>>, String> {
    let Ok(mut value) = jwtgate_core::strict_json::parse(bytes) else {
        return Ok(None);
    };
    let mut changed = false;
    let providers = value.get_mut("providers").and_then(Value::as_object_mut);
    for (name, provider) in providers.into_iter().flatten() {
        let keys = provider.get_mut("keys").and_then(Value::as_array_mut);
        for (i, key) in keys.into_iter().flatten().enumerate() {
            let Some(key) = key.as_object_mut() else {
                continue; // the core says what a key must be
            };
            for (field, inline) in [("pem_file", "pem"), ("secret_file", "secret")] {
                let Some(file) = key.get(field) else {
                    continue;
                };
                let at = format!("providers.{name}.keys[{i}].{field}");
                let Value::String(file) = file else {
                    return Err(format!("{at}: must be a string (a file name)"));
                };
                if key.contains_key(inline) {
                    return Err(format!("{at}: set `{inline}` or `{field}`, not both"));
                }
                let mut text = read_text(base, file, &at)?;
                if field == "secret_file" {
                    if text.ends_with("\r\n") {
                        text.truncate(text.len() - 2);
                    } else if text.ends_with('\n') {
                        text.truncate(text.len() - 1);
                    }
                }
                key.remove(field);
                key.insert(inline.into(), Value::String(text));
                changed = true;
            }
        }
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
        let text = read_text(base, file, &format!("providers.{name}.local_jwks.filename"))?;
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

/// A key file's text (`at`: the field, for the error).
fn read_text(base: &Path, file: &str, at: &str) -> Result<String, String> {
    let path = base.join(file);
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{at}: cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{at}: {} is not UTF-8", path.display()))
}

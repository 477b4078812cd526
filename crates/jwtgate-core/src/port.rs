//! What the engine needs from a proxy, as one trait: the proxy-wasm adapter (`src/host`) and
//! the native tests implement it. Every call returns the host's refusal as a value; the engine
//! decides what a refusal means (always fail closed).

use super::{HeaderOp, LocalResponse, Verdict};

/// A host's refusal (for proxy-wasm: the ABI status, e.g. 2 bad argument, 10 internal failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            1 => "not found",
            2 => "bad argument",
            3 => "serialization failure",
            4 => "parse failure",
            7 => "empty",
            8 => "CAS mismatch",
            10 => "internal failure",
            12 => "unimplemented",
            _ => "unknown status",
        };
        write!(f, "{name} ({})", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A header as the host holds it: bytes, any of 0x00–0xFF.
pub type RawHeader = (Vec<u8>, Vec<u8>);

/// The proxy, as the engine uses it. Calls about "the request" act on the request made
/// current by [`HostPort::select`] (proxy-wasm: the effective context).
pub trait HostPort {
    /// Host time, milliseconds since the epoch.
    fn now_ms(&self) -> Result<u64, HostError>;
    fn log(&self, level: LogLevel, line: &str);
    /// Whether a line at `level` would be logged: the engine formats a routine line (an
    /// allowed request's) only then. Hosts that cannot tell say yes (proxy-wasm:
    /// `proxy_get_log_level` is not usable on every host, so the filter does not import it).
    fn logs(&self, _level: LogLevel) -> bool {
        true
    }
    /// Counter `name` (the full metric name) += 1.
    fn count(&self, name: &str);
    /// The counters the engine increments per request, by number (their full names), given
    /// once when the configuration loads: a host defines them there (proxy-wasm:
    /// `proxy_define_metric`) so that a request increments by id.
    fn define_counters(&self, names: &[String]) {
        let _ = names;
    }
    /// Counter number `id` of [`HostPort::define_counters`]' list += 1 (`name`: its full name).
    fn count_id(&self, id: usize, name: &str) {
        let _ = id;
        self.count(name);
    }
    fn gauge(&self, name: &str, value: u64);
    fn histogram(&self, name: &str, value: u64);

    /// Makes request `context` current; an error means the request is gone.
    fn select(&self, context: u32) -> Result<(), HostError>;
    /// The current request's header pairs as the host holds them (pseudo-headers included
    /// where the host lists them).
    fn request_headers(&self) -> Result<Vec<RawHeader>, HostError>;
    /// [`HostPort::request_headers`] written over `pairs` from its start, returning how many
    /// pairs it wrote: the list there holds byte buffers of earlier requests, and a host that
    /// copies the pairs out of its own memory writes them over those ([`PairsWriter`]), which
    /// keep their capacity, so reading a request like an earlier one allocates nothing for
    /// it. The pairs after those written are leftovers, kept for later requests. By default
    /// the list is replaced by [`HostPort::request_headers`]'.
    fn request_headers_into(&self, pairs: &mut Vec<RawHeader>) -> Result<usize, HostError> {
        *pairs = self.request_headers()?;
        Ok(pairs.len())
    }
    /// One request header or pseudo-header by name (hosts that leave `:path`/`:method` out of
    /// the list answer these), else the host's own property for it (`path`, `method`).
    fn request_pseudo(&self, name: &str, property: &str) -> Result<Option<Vec<u8>>, HostError>;
    fn remove_header(&self, name: &str) -> Result<(), HostError>;
    fn replace_header(&self, name: &str, value: &str) -> Result<(), HostError>;
    /// Answers the current request locally.
    fn respond(&self, response: &LocalResponse) -> Result<(), HostError>;
    /// Lets the current (paused) request go on upstream.
    fn resume(&self) -> Result<(), HostError>;
    /// The current request's final verdict (allow, deny or dry-run), before its header changes
    /// or local response: for hosts that expose it (NGINX's `$jwtgate_reason`, claim variables).
    fn decided(&self, _verdict: &Verdict) {}

    /// Starts an HTTP call; its answer comes back as `on_call_response(token, ...)`. `body` is
    /// the request body (empty: none; a `POST` callout, e.g. token introspection, carries its
    /// form here and its `content-type` among `headers`).
    fn dispatch(
        &self,
        upstream: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, HostError>;
    /// The answer being delivered: its headers, and up to `max` body bytes.
    fn answer_headers(&self) -> Result<Vec<RawHeader>, HostError>;
    fn answer_header(&self, name: &str) -> Option<Vec<u8>>;
    fn answer_body(&self, max: usize) -> Result<Option<Vec<u8>>, HostError>;

    /// Shared data between workers: value and CAS token.
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), HostError>;
}

/// Writes header pairs over a list kept between requests, from its start: each pair's bytes
/// go into the buffers of the pair that was at its place. The pairs after those written stay
/// as they were (leftovers for later requests).
pub struct PairsWriter<'p> {
    pairs: &'p mut Vec<RawHeader>,
    len: usize,
}

impl<'p> PairsWriter<'p> {
    pub fn new(pairs: &'p mut Vec<RawHeader>) -> PairsWriter<'p> {
        PairsWriter { pairs, len: 0 }
    }

    /// Appends (`name`, `value`).
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        match self.pairs.get_mut(self.len) {
            Some((old_name, old_value)) => {
                old_name.clear();
                old_name.extend_from_slice(name);
                old_value.clear();
                old_value.extend_from_slice(value);
            }
            None => self.pairs.push((name.to_vec(), value.to_vec())),
        }
        self.len += 1;
    }

    /// How many pairs were written (the list's first ones).
    pub fn finish(self) -> usize {
        self.len
    }
}

/// Applies a decision's header changes to the current request, whose headers the host listed
/// as `sent`. Hosts differ in how they match names (Envoy stores them lower-case, NGINX compares
/// case-insensitively, others exactly), so every spelling the client sent is removed by its own
/// name — once, and only when it is there: a spelling an earlier change already removed, or one
/// the change's own replace covers, costs no host call. Allocates nothing.
pub fn apply_all(
    host: &dyn HostPort,
    ops: &[HeaderOp],
    sent: &[(String, String)],
) -> Result<(), HostError> {
    for (i, op) in ops.iter().enumerate() {
        let earlier = ops.get(..i).unwrap_or(&[]);
        let name = op_name(op);
        for (j, (spelling, _)) in sent.iter().enumerate() {
            let spelling = spelling.as_str();
            let duplicate = sent
                .get(..j)
                .unwrap_or(&[])
                .iter()
                .any(|(n, _)| n == spelling);
            if duplicate || !spelling.eq_ignore_ascii_case(name) {
                continue;
            }
            // A replace overwrites its own name (the host keeps that entry); every other
            // spelling goes, each once. (A replace alone is not trusted to drop a second
            // value the client sent under the same name.)
            let own = matches!(op, HeaderOp::Set(n, _) if n == spelling);
            if own || earlier.iter().any(|o| removes(o, spelling)) {
                continue;
            }
            host.remove_header(spelling)?;
        }
        if let HeaderOp::Set(name, value) = op {
            host.replace_header(name, value)?;
        }
    }
    Ok(())
}

fn op_name(op: &HeaderOp) -> &str {
    match op {
        HeaderOp::Remove(name) | HeaderOp::Set(name, _) => name,
    }
}

/// Whether applying `op` removed the client's spelling `spelling` (a replace removes the other
/// spellings of its name and overwrites its own, which a later removal must still remove).
fn removes(op: &HeaderOp, spelling: &str) -> bool {
    match op {
        HeaderOp::Remove(name) => spelling.eq_ignore_ascii_case(name),
        HeaderOp::Set(name, _) => spelling.eq_ignore_ascii_case(name) && spelling != name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records the header calls; refuses nothing.
    #[derive(Default)]
    struct Calls(RefCell<Vec<String>>);

    impl HostPort for Calls {
        fn now_ms(&self) -> Result<u64, HostError> {
            Ok(0)
        }
        fn log(&self, _: LogLevel, _: &str) {}
        fn count(&self, _: &str) {}
        fn gauge(&self, _: &str, _: u64) {}
        fn histogram(&self, _: &str, _: u64) {}
        fn select(&self, _: u32) -> Result<(), HostError> {
            Ok(())
        }
        fn request_headers(&self) -> Result<Vec<RawHeader>, HostError> {
            Ok(Vec::new())
        }
        fn request_pseudo(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, HostError> {
            Ok(None)
        }
        fn remove_header(&self, name: &str) -> Result<(), HostError> {
            self.0.borrow_mut().push(format!("remove {name}"));
            Ok(())
        }
        fn replace_header(&self, name: &str, value: &str) -> Result<(), HostError> {
            self.0.borrow_mut().push(format!("replace {name}={value}"));
            Ok(())
        }
        fn respond(&self, _: &LocalResponse) -> Result<(), HostError> {
            Ok(())
        }
        fn resume(&self) -> Result<(), HostError> {
            Ok(())
        }
        fn dispatch(
            &self,
            _: &str,
            _: &[(&str, &str)],
            _: &[u8],
            _: u64,
        ) -> Result<u32, HostError> {
            Err(HostError(12))
        }
        fn answer_headers(&self) -> Result<Vec<RawHeader>, HostError> {
            Ok(Vec::new())
        }
        fn answer_header(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
        fn answer_body(&self, _: usize) -> Result<Option<Vec<u8>>, HostError> {
            Ok(None)
        }
        fn shared_get(&self, _: &str) -> Option<(Vec<u8>, u32)> {
            None
        }
        fn shared_set(&self, _: &str, _: &[u8], _: u32) -> Result<(), HostError> {
            Ok(())
        }
    }

    fn sent(names: &[&str]) -> Vec<(String, String)> {
        names.iter().map(|n| (n.to_string(), "v".into())).collect()
    }

    #[test]
    fn every_spelling_present_is_removed_once_and_nothing_absent_is_asked_for() {
        let host = Calls::default();
        let ops = [
            HeaderOp::Remove("x-jwt-sub".into()),
            HeaderOp::Remove("x_jwt_roles".into()),
            HeaderOp::Remove("authorization".into()),
            HeaderOp::Set("x-jwt-sub".into(), "alice".into()),
        ];
        let headers = sent(&[
            ":path",
            "Authorization",
            "X-Jwt-Sub",
            "x-JWT-sub",
            "X-Jwt-Sub",
            "x_jwt_roles",
        ]);
        apply_all(&host, &ops, &headers).unwrap();
        assert_eq!(
            host.0.into_inner(),
            [
                "remove X-Jwt-Sub",
                "remove x-JWT-sub",
                "remove x_jwt_roles",
                "remove Authorization",
                "replace x-jwt-sub=alice",
            ]
        );
    }

    #[test]
    fn a_replace_removes_the_other_spellings_and_keeps_its_own_for_a_later_removal() {
        let host = Calls::default();
        let ops = [
            HeaderOp::Set("x-a".into(), "1".into()),
            HeaderOp::Remove("x-a".into()),
        ];
        apply_all(&host, &ops, &sent(&["X-A", "x-a"])).unwrap();
        assert_eq!(
            host.0.into_inner(),
            ["remove X-A", "replace x-a=1", "remove x-a"]
        );
    }

    #[test]
    fn a_spoofed_header_under_the_replaced_name_is_removed_before_the_replace() {
        let host = Calls::default();
        let ops = [
            HeaderOp::Remove("x-jwt-sub".into()),
            HeaderOp::Set("x-jwt-sub".into(), "alice".into()),
        ];
        apply_all(&host, &ops, &sent(&["x-jwt-sub", "x-jwt-sub"])).unwrap();
        assert_eq!(
            host.0.into_inner(),
            ["remove x-jwt-sub", "replace x-jwt-sub=alice"]
        );
    }
}

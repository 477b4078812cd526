//! The request as the core sees it: method, `:path` and the header list, read from the host once.

/// A request's headers (names compared case-insensitively: hosts differ in case).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `:path` as received, query string included.
    pub path: &'a str,
    pub headers: &'a [(String, String)],
}

impl<'a> Request<'a> {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The SHA-256 of the client certificate's DER that the host read from the connection
    /// (hex in the reserved pseudo-header [`PEER_CERTIFICATE_SHA256`]; the proxy-wasm adapter
    /// fills it from Envoy's `connection.sha256_peer_certificate_digest` and removes any copy
    /// the host listed before). `None`: no certificate, or the host does not say.
    pub fn peer_certificate_sha256(&self) -> Option<[u8; 32]> {
        let mut values = self.header_values(PEER_CERTIFICATE_SHA256);
        let hex = values.next()?;
        if values.next().is_some() {
            return None;
        }
        decode_sha256_hex(hex)
    }

    /// The query string without `?`, if any.
    pub fn query(&self) -> Option<&'a str> {
        let path = self.path;
        path.split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or(q))
    }
}

/// The pseudo-header a host adapter sets to the hex SHA-256 of the client certificate (DER)
/// of the request's connection. A `:` name: no client can send it (HTTP/1 header names
/// cannot start with `:`, HTTP/2 and 3 refuse unknown pseudo-headers), and adapters replace
/// whatever the host listed under it.
pub const PEER_CERTIFICATE_SHA256: &str = ":jwtgate-peer-certificate-sha256";

/// 64 hex digits (either case, `:` separators allowed as some proxies print them) → 32 bytes.
pub fn decode_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let digits: Vec<u8> = text.trim().bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// A change to the request the host must apply before forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp {
    /// Remove every value of the header.
    Remove(String),
    /// Replace every value of the header with this one (`:path` included).
    Set(String, String),
}

/// Header changes written over a list kept between requests: each change overwrites the
/// strings of the change that was at its place (their capacity is reused), so a request whose
/// changes are shaped like an earlier one's allocates nothing. [`OpsWriter::finish`] sets
/// aside what is left of the old list for the next writer.
#[derive(Debug, Default)]
pub struct OpsWriter {
    list: Vec<HeaderOp>,
    len: usize,
}

impl OpsWriter {
    /// Writes over `list` (a previous decision's changes) and then `tail` (what an earlier
    /// [`OpsWriter::finish`] set aside; left empty), from the start.
    pub fn reuse(mut list: Vec<HeaderOp>, tail: &mut Vec<HeaderOp>) -> OpsWriter {
        list.append(tail);
        OpsWriter { list, len: 0 }
    }

    /// The changes written so far.
    pub fn ops(&self) -> &[HeaderOp] {
        self.list.get(..self.len).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `Remove(name)`.
    pub fn remove(&mut self, name: &str) {
        match self.list.get_mut(self.len) {
            Some(HeaderOp::Remove(old)) => overwrite(old, name),
            Some(slot) => *slot = HeaderOp::Remove(name.to_string()),
            None => self.list.push(HeaderOp::Remove(name.to_string())),
        }
        self.len += 1;
    }

    /// Appends `Set(name, value)`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.set_with(name, |out| out.push_str(value));
    }

    /// Appends `Set(name, value)`, `value` written by `write` into an empty string.
    pub fn set_with(&mut self, name: &str, write: impl FnOnce(&mut String)) {
        match self.list.get_mut(self.len) {
            Some(HeaderOp::Set(old_name, old_value)) => {
                overwrite(old_name, name);
                old_value.clear();
                write(old_value);
            }
            slot => {
                let mut value = String::new();
                write(&mut value);
                let op = HeaderOp::Set(name.to_string(), value);
                match slot {
                    Some(slot) => *slot = op,
                    None => self.list.push(op),
                }
            }
        }
        self.len += 1;
    }

    /// Appends `op` as it is.
    pub fn push(&mut self, op: HeaderOp) {
        match self.list.get_mut(self.len) {
            Some(slot) => *slot = op,
            None => self.list.push(op),
        }
        self.len += 1;
    }

    /// The list as it is (the changes written, then what is left of the old ones), for a
    /// writer to come.
    pub fn into_list(self) -> Vec<HeaderOp> {
        self.list
    }

    /// The changes written, in order; the old ones left over are moved to `tail`.
    pub fn finish(mut self, tail: &mut Vec<HeaderOp>) -> Vec<HeaderOp> {
        tail.extend(self.list.drain(self.len..));
        self.list
    }
}

/// `text` becomes `with`, in `text`'s capacity.
fn overwrite(text: &mut String, with: &str) {
    text.clear();
    text.push_str(with);
}

/// `:path` bytes as the core compares them: valid UTF-8 as it is; other bytes, and control
/// bytes (never legal in a request target), as `%XX`. NGINX hands over a decoded path (`GET
/// /%ff` arrives as byte 0xFF); every host adapter uses this one encoding.
pub fn path_text(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    path_text_into(raw, &mut out);
    out
}

/// [`path_text`] appended to `out` (no allocation beyond `out`'s growth).
pub fn path_text_into(raw: &[u8], out: &mut String) {
    use std::fmt::Write;
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii_control() {
                let _ = write!(out, "%{:02X}", u32::from(c));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Header bytes as the core reads them: UTF-8 as it is, obs-text (0x80–0xFF) decoded lossily,
/// so a token carrying such bytes fails verification and an altered value shows U+FFFD.
pub fn header_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_bytes_keep_what_was_sent() {
        assert_eq!(path_text(b"/caf\xc3\xa9/x?y=1"), "/caf\u{e9}/x?y=1");
        assert_eq!(path_text(b"/\xff/a\x00b"), "/%FF/a%00b");
        assert_eq!(path_text(b"/a\x01\x7f"), "/a%01%7F");
        assert_eq!(path_text(b"/a%2Fb"), "/a%2Fb");
        assert_eq!(header_text(b"caf\xe9".to_vec()), "caf\u{fffd}");
        assert_eq!(header_text("café".as_bytes().to_vec()), "café");
    }
}

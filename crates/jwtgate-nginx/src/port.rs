//! The core's engine inside NGINX: [`NginxPort`] is its `HostPort`. Every call the engine
//! makes is carried out with NGINX's own machinery:
//! - a callout (JWKS fetch, auth call) is a background subrequest of the request the engine
//!   acts for, with its answer kept in memory, to the internal location
//!   `/_jwtgate/<cluster><path>` the operator declares (`internal; proxy_pass …;`), the way
//!   `auth_request` works; NGINX resolves, connects, speaks TLS and times out;
//! - a request the engine parks returns `NGX_AGAIN` from the access phase; when the engine
//!   decides it later (from another request's answer or the timer), the decision is stashed in
//!   the request's state and its connection's write event posted, so its access phase runs
//!   again in its own event and applies it;
//! - shared data is the `jwtgate` shared memory zone (`shared.rs`).
//!
//! The decision logic is the core's; nothing here decides.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use jwtgate_core::port::{HostError, HostPort, LogLevel, PairsWriter, RawHeader};
use jwtgate_core::{HeaderOp, LocalResponse, Verdict};
use ngx::ffi::*;
use ngx::ngx_log_error;

use crate::{bytes, header_entries, pool_str, request_state, shared};

/// The prefix of the internal locations callouts go to.
pub const CALLOUT_PREFIX: &str = "/_jwtgate/";

/// HostError for "no request to call out from" (the timer) and other refusals.
const UNIMPLEMENTED: HostError = HostError(12);
const BAD_ARGUMENT: HostError = HostError(2);
const INTERNAL: HostError = HostError(10);

/// The answer being delivered to the engine.
pub struct Answer {
    /// `:status` first (absent when no HTTP answer came), then the answer's headers.
    pub headers: Vec<RawHeader>,
    pub body: Vec<u8>,
}

/// The engine's view of NGINX for one loaded configuration in one worker.
pub struct NginxPort {
    /// The request the engine acts on (`select`); null between requests (the timer).
    current: Cell<*mut ngx_http_request_t>,
    /// The request whose access handler runs now: its decision is read when the engine
    /// returns. Any other request the engine decides is woken.
    running: Cell<*mut ngx_http_request_t>,
    /// Live requests by context id (removed when the request's pool goes).
    requests: RefCell<HashMap<u32, *mut ngx_http_request_t>>,
    next_context: Cell<u32>,
    next_token: Cell<u32>,
    answer: RefCell<Option<Answer>>,
    /// `jwtgate_test_clock` of the configuration, unix seconds.
    pub clock: Cell<Option<u64>>,
    /// The `jwtgate` zone of this configuration's cycle.
    pub zone: Cell<*mut ngx_shm_zone_t>,
    /// The callouts' completion data refers back to the configuration by this address.
    pub owner: Cell<*const c_void>,
    /// Metric slots in the zone by name, looked up once per worker.
    metrics: RefCell<HashMap<String, *const AtomicU64>>,
    /// A provider binds tokens to the client certificate of the connection.
    pub reads_peer_certificate: Cell<bool>,
    /// The zone slots of the engine's numbered counters (`count_id`), found on first use.
    counter_slots: RefCell<Vec<Option<*const AtomicU64>>>,
}

impl NginxPort {
    pub fn new() -> NginxPort {
        NginxPort {
            current: Cell::new(ptr::null_mut()),
            running: Cell::new(ptr::null_mut()),
            requests: RefCell::new(HashMap::new()),
            next_context: Cell::new(0),
            next_token: Cell::new(0),
            answer: RefCell::new(None),
            clock: Cell::new(None),
            zone: Cell::new(ptr::null_mut()),
            owner: Cell::new(ptr::null()),
            metrics: RefCell::new(HashMap::new()),
            reads_peer_certificate: Cell::new(false),
            counter_slots: RefCell::new(Vec::new()),
        }
    }

    fn metric(&self, name: &str) -> Option<&AtomicU64> {
        let mut metrics = self.metrics.try_borrow_mut().ok()?;
        let slot = match metrics.get(name) {
            Some(slot) => *slot,
            None => {
                let slot = unsafe { shared::counter(self.zone.get(), name)? };
                metrics.insert(name.to_string(), slot);
                slot
            }
        };
        // The zone lives as long as the worker.
        unsafe { slot.as_ref() }
    }

    /// Host time in milliseconds (the test clock when set).
    pub fn now_ms(&self) -> u64 {
        match self.clock.get() {
            Some(seconds) => seconds.saturating_mul(1000),
            None => unsafe {
                let tp = ngx_cached_time;
                if tp.is_null() {
                    0
                } else {
                    ((*tp).sec.max(0) as u64)
                        .saturating_mul(1000)
                        .saturating_add((*tp).msec as u64)
                }
            },
        }
    }

    /// A new context id for request `r` (never 0: the engine's root).
    pub fn register(&self, r: *mut ngx_http_request_t) -> u32 {
        let id = self.next_context.get().wrapping_add(1).max(1);
        self.next_context.set(id);
        if let Ok(mut requests) = self.requests.try_borrow_mut() {
            requests.insert(id, r);
        }
        id
    }

    pub fn unregister(&self, context: u32) {
        if let Ok(mut requests) = self.requests.try_borrow_mut() {
            requests.remove(&context);
        }
    }

    /// Runs `f` with `r` as the current request and, with `running`, as the one whose access
    /// handler runs (so it is not woken: its caller reads the outcome).
    pub fn with_request<T>(
        &self,
        r: *mut ngx_http_request_t,
        running: bool,
        f: impl FnOnce() -> T,
    ) -> T {
        let (current, run) = (self.current.get(), self.running.get());
        self.current.set(r);
        self.running.set(if running { r } else { ptr::null_mut() });
        let out = f();
        self.current.set(current);
        self.running.set(run);
        out
    }

    pub fn deliver<T>(&self, answer: Answer, f: impl FnOnce() -> T) -> T {
        if let Ok(mut slot) = self.answer.try_borrow_mut() {
            *slot = Some(answer);
        }
        let out = f();
        if let Ok(mut slot) = self.answer.try_borrow_mut() {
            *slot = None;
        }
        out
    }

    fn log_of(&self) -> *mut ngx_log_t {
        unsafe {
            let r = self.current.get();
            if !r.is_null() && !(*r).connection.is_null() {
                return (*(*r).connection).log;
            }
            (*ngx_cycle).log
        }
    }

    /// The current request's state, if any.
    unsafe fn state<'a>(&self) -> Option<&'a mut crate::RequestState> {
        let r = self.current.get();
        if r.is_null() {
            return None;
        }
        request_state(r)
    }

    /// Lets a request whose decision was made outside its own event run its access phase
    /// again (posting its connection's write event: NGINX calls the request's
    /// `write_event_handler`, `ngx_http_core_run_phases`, then its posted subrequests).
    unsafe fn wake_current(&self) {
        let r = self.current.get();
        if r.is_null() || r == self.running.get() {
            return;
        }
        let c = (*r).connection;
        if !c.is_null() && !(*c).write.is_null() {
            ngx_post_event((*c).write, ptr::addr_of_mut!(ngx_posted_events));
        }
    }
}

impl Default for NginxPort {
    fn default() -> Self {
        NginxPort::new()
    }
}

/// The engine's handle on the port (the module keeps another `Rc` to the same port).
pub struct PortHandle(pub std::rc::Rc<NginxPort>);

impl HostPort for PortHandle {
    fn now_ms(&self) -> Result<u64, HostError> {
        Ok(self.0.now_ms())
    }

    fn log(&self, level: LogLevel, line: &str) {
        let log = self.0.log_of();
        if self.logs(level) {
            ngx_log_error!(ngx_level(level), log, "{}", line);
        }
    }

    /// NGINX can tell: the allowed request's line is not even formatted below `debug`.
    fn logs(&self, level: LogLevel) -> bool {
        let log = self.0.log_of();
        !log.is_null() && unsafe { (*log).log_level } >= ngx_level(level) as ngx_uint_t
    }

    // Stock NGINX has no metrics API: counters and gauges live in the zone, summed over the
    // workers, and `jwtgate_metrics;` prints them. Histograms are not kept.
    fn count(&self, name: &str) {
        if let Some(slot) = self.0.metric(name) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// By the engine's number: the slot found once per worker, then an atomic add.
    fn count_id(&self, id: usize, name: &str) {
        let cached = self
            .0
            .counter_slots
            .try_borrow()
            .ok()
            .and_then(|slots| slots.get(id).copied().flatten());
        let slot = match cached {
            Some(slot) => slot,
            None => {
                let Some(slot) = self.0.metric(name).map(|s| s as *const AtomicU64) else {
                    return;
                };
                if let Ok(mut slots) = self.0.counter_slots.try_borrow_mut() {
                    if slots.len() <= id {
                        slots.resize(id + 1, None);
                    }
                    if let Some(entry) = slots.get_mut(id) {
                        *entry = Some(slot);
                    }
                }
                slot
            }
        };
        // A zone slot lives as long as the worker.
        if let Some(slot) = unsafe { slot.as_ref() } {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn gauge(&self, name: &str, value: u64) {
        if let Some(slot) = self.0.metric(name) {
            slot.store(value, Ordering::Relaxed);
        }
    }
    fn histogram(&self, _name: &str, _value: u64) {}

    fn select(&self, context: u32) -> Result<(), HostError> {
        let r = self
            .0
            .requests
            .try_borrow()
            .ok()
            .and_then(|m| m.get(&context).copied());
        match r {
            Some(r) => {
                self.0.current.set(r);
                Ok(())
            }
            None => {
                self.0.current.set(ptr::null_mut());
                Err(HostError(1))
            }
        }
    }

    /// The header list, then the pseudo-headers the core reads from a host: `:scheme` (DPoP's
    /// `htu`) and, when a provider binds tokens to the connection's certificate, its SHA-256
    /// (`mtls_binding.certificate_from: connection`).
    fn request_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        let mut headers = Vec::new();
        let written = self.request_headers_into(&mut headers)?;
        headers.truncate(written);
        Ok(headers)
    }

    fn request_headers_into(&self, headers: &mut Vec<RawHeader>) -> Result<usize, HostError> {
        let r = self.0.current.get();
        if r.is_null() {
            return Err(HostError(1));
        }
        unsafe {
            // Written over the buffers of an earlier request's pairs (their capacity reused).
            let mut out = PairsWriter::new(headers);
            for &e in header_entries(r).iter() {
                let name = bytes(&(*e).key);
                if !name.starts_with(b":") {
                    out.push(name, bytes(&(*e).value));
                }
            }
            let c = (*r).connection;
            let ssl = if c.is_null() {
                ptr::null_mut()
            } else {
                (*c).ssl
            };
            let scheme: &[u8] = if ssl.is_null() { b"http" } else { b"https" };
            out.push(b":scheme", scheme);
            if self.0.reads_peer_certificate.get() && !ssl.is_null() {
                if let Some(digest) = peer_certificate_sha256((*ssl).connection) {
                    out.push(
                        jwtgate_core::request::PEER_CERTIFICATE_SHA256.as_bytes(),
                        digest.as_bytes(),
                    );
                }
            }
            Ok(out.finish())
        }
    }

    fn request_pseudo(&self, name: &str, _property: &str) -> Result<Option<Vec<u8>>, HostError> {
        let r = self.0.current.get();
        if r.is_null() {
            return Err(HostError(1));
        }
        unsafe {
            Ok(match name {
                ":path" => Some(bytes(&(*r).unparsed_uri).to_vec()),
                ":method" => Some(bytes(&(*r).method_name).to_vec()),
                ":authority" => Some(bytes(&(*r).headers_in.server).to_vec()),
                ":scheme" => Some(bytes(&(*r).schema).to_vec()),
                _ => None,
            })
        }
    }

    fn remove_header(&self, name: &str) -> Result<(), HostError> {
        let state = unsafe { self.0.state() }.ok_or(HostError(1))?;
        state.ops.push(HeaderOp::Remove(name.to_string()));
        Ok(())
    }

    fn replace_header(&self, name: &str, value: &str) -> Result<(), HostError> {
        let state = unsafe { self.0.state() }.ok_or(HostError(1))?;
        state
            .ops
            .push(HeaderOp::Set(name.to_string(), value.to_string()));
        Ok(())
    }

    fn respond(&self, response: &LocalResponse) -> Result<(), HostError> {
        let state = unsafe { self.0.state() }.ok_or(HostError(1))?;
        state.outcome = crate::Outcome::Respond(response.clone());
        unsafe { self.0.wake_current() };
        Ok(())
    }

    fn resume(&self) -> Result<(), HostError> {
        let state = unsafe { self.0.state() }.ok_or(HostError(1))?;
        state.outcome = crate::Outcome::Forward;
        unsafe { self.0.wake_current() };
        Ok(())
    }

    fn decided(&self, verdict: &Verdict) {
        if let Some(state) = unsafe { self.0.state() } {
            state.note_verdict(verdict);
        }
    }

    fn dispatch(
        &self,
        upstream: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        _timeout_ms: u64,
    ) -> Result<u32, HostError> {
        let r = self.0.current.get();
        if r.is_null() {
            return Err(UNIMPLEMENTED);
        }
        let token = self.0.next_token.get().wrapping_add(1).max(1);
        unsafe { subrequest(&self.0, (*r).main, token, upstream, headers, body)? };
        self.0.next_token.set(token);
        // A request other than the running one (woken from elsewhere) must get an event to
        // run its posted subrequest.
        unsafe { self.0.wake_current() };
        Ok(token)
    }

    fn answer_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        let answer = self.0.answer.try_borrow().map_err(|_| INTERNAL)?;
        Ok(answer
            .as_ref()
            .map(|a| a.headers.clone())
            .unwrap_or_default())
    }

    fn answer_header(&self, name: &str) -> Option<Vec<u8>> {
        let answer = self.0.answer.try_borrow().ok()?;
        answer
            .as_ref()?
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.clone())
    }

    fn answer_body(&self, max: usize) -> Result<Option<Vec<u8>>, HostError> {
        let answer = self.0.answer.try_borrow().map_err(|_| INTERNAL)?;
        Ok(answer.as_ref().map(|a| {
            a.body
                .get(..max.min(a.body.len()))
                .unwrap_or_default()
                .to_vec()
        }))
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        unsafe { shared::get(self.0.zone.get(), key.as_bytes()) }
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), HostError> {
        unsafe { shared::set(self.0.zone.get(), key.as_bytes(), value, cas) }
    }
}

fn ngx_level(level: LogLevel) -> u32 {
    match level {
        LogLevel::Debug => NGX_LOG_DEBUG,
        LogLevel::Info => NGX_LOG_INFO,
        LogLevel::Warn => NGX_LOG_WARN,
        LogLevel::Error => NGX_LOG_ERR,
    }
}

/// The SHA-256 of the DER of the client certificate of TLS connection `ssl`, in hex (what
/// Envoy's `connection.sha256_peer_certificate_digest` gives); `None` without one.
unsafe fn peer_certificate_sha256(ssl: *mut SSL) -> Option<String> {
    if ssl.is_null() {
        return None;
    }
    let cert = SSL_get1_peer_certificate(ssl);
    if cert.is_null() {
        return None;
    }
    let mut md = [0u8; 64];
    let mut len: u32 = 0;
    let ok = X509_digest(cert, EVP_sha256(), md.as_mut_ptr(), &mut len);
    X509_free(cert);
    if ok != 1 || len != 32 {
        return None;
    }
    Some(md.get(..32)?.iter().map(|b| format!("{b:02x}")).collect())
}

/// What a callout's completion needs: which call of which configuration, delivered once
/// (NGINX may finalize a subrequest more than once). Lives in the parent request's pool.
#[repr(C)]
pub struct Callout {
    pub token: u32,
    /// The configuration (`Loaded`) whose engine made the call.
    pub owner: *const c_void,
    pub delivered: bool,
    /// The subrequest reached a location that is not `internal` (set by the preaccess check).
    pub misrouted: bool,
}

/// Whether `sr` is one of our callouts, and its data.
pub unsafe fn callout_of(sr: *mut ngx_http_request_t) -> Option<&'static mut Callout> {
    let ps = (*sr).post_subrequest;
    if ps.is_null() {
        return None;
    }
    let handler = (*ps).handler?;
    if !std::ptr::fn_addr_eq(handler, CALLOUT_DONE) {
        return None;
    }
    ((*ps).data as *mut Callout).as_mut()
}

/// The completion handler of every callout, read from one place (compared by address).
pub static CALLOUT_DONE: unsafe extern "C" fn(
    *mut ngx_http_request_t,
    *mut c_void,
    ngx_int_t,
) -> ngx_int_t = crate::callout_done;

/// Starts the callout `token` as a background, in-memory subrequest of `r` to
/// `/_jwtgate/<upstream><path>`, carrying exactly `headers` (no header, body or
/// `Content-Length` of the client request).
unsafe fn subrequest(
    port: &NginxPort,
    r: *mut ngx_http_request_t,
    token: u32,
    upstream: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), HostError> {
    let pool = (*r).pool;
    let pseudo = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let target = pseudo(":path").unwrap_or("/");
    let method = pseudo(":method").unwrap_or("GET");
    let (path, args) = match target.split_once('?') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    if !crate::glue::is_location_segment(upstream) || !path.starts_with('/') {
        return Err(BAD_ARGUMENT);
    }
    let uri = format!("{CALLOUT_PREFIX}{upstream}{path}");
    // The subrequest's `uri` is the decoded path (what locations match and proxy_pass
    // re-escapes).
    let mut uri = decoded(pool, uri.as_bytes()).ok_or(INTERNAL)?;
    let mut args = match args {
        Some(a) => pool_str(pool, a.as_bytes()).ok_or(INTERNAL)?,
        None => ngx_str_t {
            len: 0,
            data: ptr::null_mut(),
        },
    };
    let callout = ngx_pcalloc(pool, std::mem::size_of::<Callout>()) as *mut Callout;
    let ps = ngx_pcalloc(pool, std::mem::size_of::<ngx_http_post_subrequest_t>())
        as *mut ngx_http_post_subrequest_t;
    if callout.is_null() || ps.is_null() {
        return Err(INTERNAL);
    }
    ptr::write(
        callout,
        Callout {
            token,
            owner: port.owner.get(),
            delivered: false,
            misrouted: false,
        },
    );
    (*ps).handler = Some(CALLOUT_DONE);
    (*ps).data = callout as *mut c_void;
    let mut sr: *mut ngx_http_request_t = ptr::null_mut();
    let flags = NGX_HTTP_SUBREQUEST_IN_MEMORY | NGX_HTTP_SUBREQUEST_BACKGROUND;
    let args_ptr = if args.len > 0 {
        &mut args as *mut ngx_str_t
    } else {
        ptr::null_mut()
    };
    if ngx_http_subrequest(r, &mut uri, args_ptr, &mut sr, ps, flags as ngx_uint_t)
        != NGX_OK as ngx_int_t
        || sr.is_null()
    {
        return Err(INTERNAL);
    }
    (*sr).method_name = pool_str(pool, method.as_bytes()).ok_or(INTERNAL)?;
    if method == "POST" {
        (*sr).method = NGX_HTTP_POST as ngx_uint_t;
    }
    set_headers(sr, headers.iter().filter(|(n, _)| !n.starts_with(':'))).ok_or(INTERNAL)?;
    // The body (introspection's form), in memory: `proxy_pass` sends `request_body->bufs`
    // with `Content-Length` from `content_length_n` (the parent's body is never passed on).
    (*sr).request_body = ptr::null_mut();
    if !body.is_empty() {
        (*sr).request_body = memory_body(pool, body).ok_or(INTERNAL)?;
        (*sr).headers_in.content_length_n = body.len() as off_t;
    }
    Ok(())
}

/// A request body of `body`, one in-memory buffer in `pool`.
unsafe fn memory_body(pool: *mut ngx_pool_t, body: &[u8]) -> Option<*mut ngx_http_request_body_t> {
    let rb = ngx_pcalloc(pool, std::mem::size_of::<ngx_http_request_body_t>())
        as *mut ngx_http_request_body_t;
    let b = ngx_create_temp_buf(pool, body.len());
    let cl = ngx_alloc_chain_link(pool);
    if rb.is_null() || b.is_null() || cl.is_null() {
        return None;
    }
    ptr::copy_nonoverlapping(body.as_ptr(), (*b).last, body.len());
    (*b).last = (*b).last.add(body.len());
    (*b).set_last_buf(1);
    (*b).set_last_in_chain(1);
    (*cl).buf = b;
    (*cl).next = ptr::null_mut();
    (*rb).bufs = cl;
    (*rb).rest = 0;
    Some(rb)
}

unsafe fn decoded(pool: *mut ngx_pool_t, raw: &[u8]) -> Option<ngx_str_t> {
    let src = pool_str(pool, raw)?;
    if !raw.contains(&b'%') {
        return Some(src);
    }
    let dst = ngx_pnalloc(pool, raw.len()) as *mut u_char;
    if dst.is_null() {
        return None;
    }
    let (mut s, mut d) = (src.data, dst);
    ngx_unescape_uri(&mut d, &mut s, raw.len(), 0);
    Some(ngx_str_t {
        len: d.offset_from(dst) as usize,
        data: dst,
    })
}

/// Replaces the subrequest's request headers (a copy of its parent's) with `headers`: a new
/// list, the `headers_in` shortcuts pointing into it, no body framing.
unsafe fn set_headers<'a>(
    sr: *mut ngx_http_request_t,
    headers: impl Iterator<Item = &'a (&'a str, &'a str)>,
) -> Option<()> {
    let pool = (*sr).pool;
    let headers: Vec<&(&str, &str)> = headers.collect();
    let mut list: ngx_list_t = std::mem::zeroed();
    let n = headers.len().max(1) as ngx_uint_t;
    if ngx_list_init(&mut list, pool, n, std::mem::size_of::<ngx_table_elt_t>())
        != NGX_OK as ngx_int_t
    {
        return None;
    }
    for (name, value) in headers {
        let h = ngx_list_push(&mut list) as *mut ngx_table_elt_t;
        if h.is_null() {
            return None;
        }
        add_to_ngx_table(h, pool, name, value)?;
    }
    let hin = &mut (*sr).headers_in;
    hin.headers = list;
    for (_, field) in single_fields!(hin) {
        *field = ptr::null_mut();
    }
    hin.cookies = std::mem::zeroed();
    hin.x_forwarded_for = std::mem::zeroed();
    hin.content_length_n = -1;
    hin.set_chunked(0);
    hin.keep_alive_n = -1;
    let entries = crate::header_entries(sr);
    let hin = &mut (*sr).headers_in;
    for (name, field) in single_fields!(hin) {
        *field = entries
            .iter()
            .copied()
            .find(|&e| bytes(&(*e).key).eq_ignore_ascii_case(name.as_bytes()))
            .unwrap_or(ptr::null_mut());
    }
    Some(())
}

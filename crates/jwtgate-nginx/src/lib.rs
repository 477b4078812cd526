//! jwtgate as a native dynamic module for stock NGINX: the same core and the same JSON
//! configuration as the proxy-wasm filter, decided in the access phase.
//!
//! Directives (http, server, location; inherited downwards):
//! - `jwtgate_config_file PATH;` the filter's JSON, read and validated when the configuration
//!   is loaded (`nginx -t` fails with the core's field-path message);
//! - `jwtgate on | off;` (`off` disables the check below that level);
//! - `jwtgate_test_clock UNIX_SECONDS;` freezes the clock, for tests only;
//! - `jwtgate_metrics;` (location) answers with the metrics of every worker.
//!
//! Variables: `$jwtgate_result` (`allow`, `deny`, `dry_run`; empty when jwtgate did not run),
//! `$jwtgate_reason` (the refusal reason, e.g. `invalid_signature`) and `$jwtgate_claim_<name>`
//! (a verified token's claim, `__` for `.` in nested names; empty unless allowed).
//!
//! `remote_jwks` and `ext_auth` run the core's engine (`port.rs`): callouts are subrequests to
//! internal locations `/_jwtgate/<cluster>…` the operator declares; fetched key sets are shared
//! between workers through the shared memory zone `jwtgate` (`shared.rs`).
//!
//! Nothing may unwind into NGINX: every entry point runs under `catch_unwind`; a panic while
//! deciding answers 500, one while loading the configuration fails it.

#![allow(clippy::missing_safety_doc)]

/// The `headers_in` fields that point at one entry of the list, by header name: kept in step
/// with a rebuilt list (first entry of the name, as NGINX's parser keeps).
macro_rules! single_fields {
    ($h:expr) => {
        [
            ("host", &mut $h.host as *mut *mut ngx_table_elt_t),
            ("connection", &mut $h.connection),
            ("if-modified-since", &mut $h.if_modified_since),
            ("if-unmodified-since", &mut $h.if_unmodified_since),
            ("if-match", &mut $h.if_match),
            ("if-none-match", &mut $h.if_none_match),
            ("user-agent", &mut $h.user_agent),
            ("referer", &mut $h.referer),
            ("content-length", &mut $h.content_length),
            ("content-range", &mut $h.content_range),
            ("content-type", &mut $h.content_type),
            ("range", &mut $h.range),
            ("if-range", &mut $h.if_range),
            ("transfer-encoding", &mut $h.transfer_encoding),
            ("te", &mut $h.te),
            ("expect", &mut $h.expect),
            ("upgrade", &mut $h.upgrade),
            ("accept-encoding", &mut $h.accept_encoding),
            ("via", &mut $h.via),
            ("authorization", &mut $h.authorization),
            ("keep-alive", &mut $h.keep_alive),
            ("x-real-ip", &mut $h.x_real_ip),
            ("accept", &mut $h.accept),
            ("accept-language", &mut $h.accept_language),
            ("depth", &mut $h.depth),
            ("destination", &mut $h.destination),
            ("overwrite", &mut $h.overwrite),
            ("date", &mut $h.date),
        ]
    };
}

pub mod glue;
mod port;
mod shared;

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::{Rc, Weak};

use jwtgate_core::engine::Engine;
use jwtgate_core::provider::Verified;
use jwtgate_core::{Decision, Gateway, HeaderOp, LocalResponse, Verdict};
use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::*;
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_log_error, ngx_string};
use port::{NginxPort, PortHandle};

/// A loaded configuration: shared by every location that inherits it. Each worker process has
/// its own copy after `fork`, so the engine's state (token cache, fetched keys, auth answers,
/// paused requests) is per worker; a worker runs one thread. Built once, not per request.
struct Loaded {
    engine: RefCell<Engine>,
    port: Rc<NginxPort>,
    /// Remote JWKS or auth services: callouts, the timer and the shared zone.
    calls: bool,
    /// When due fetches were last looked for (they start from requests: `start_due_fetches`).
    due_checked_ms: Cell<u64>,
}

thread_local! {
    /// Every configuration loaded in this process, for the worker's timer.
    static LOADED: RefCell<Vec<Weak<Loaded>>> = const { RefCell::new(Vec::new()) };
}

/// The location configuration (also used at http and server level, merged downwards).
#[derive(Default)]
struct LocConf {
    enabled: Option<bool>,
    loaded: Option<Rc<Loaded>>,
    /// `jwtgate_test_clock`: unix seconds used instead of the clock.
    clock: Option<u64>,
    /// `jwtgate_metrics`: this location prints the metrics of this zone.
    metrics: Option<*mut ngx_shm_zone_t>,
}

impl LocConf {
    fn active(&self) -> Option<&Rc<Loaded>> {
        if self.enabled == Some(false) {
            return None;
        }
        self.loaded.as_ref()
    }
}

/// What the engine decided for a request outside the request's own access handler (or inside
/// it, read when the engine returns).
#[derive(Default)]
pub(crate) enum Outcome {
    #[default]
    Pending,
    Forward,
    Respond(LocalResponse),
}

/// What jwtgate decided for a request: kept in a cleanup of the request's pool (found by its
/// handler), so it survives internal redirects, which clear module contexts.
pub(crate) struct RequestState {
    result: &'static str,
    reason: &'static str,
    /// The configuration that allowed the request (compared by address): another location
    /// with the same configuration does not decide again after an internal redirect.
    allowed_by: *const Loaded,
    /// The verified tokens of an allowed request (`$jwtgate_claim_<name>`).
    verified: Vec<Rc<Verified>>,
    /// The configuration whose engine knows this request, and the request's id there.
    engine_of: Option<Rc<Loaded>>,
    context: u32,
    /// Waiting (the access phase returned `NGX_AGAIN`) for keys or an auth answer.
    parked: bool,
    /// The header changes of a forwarded request, as the engine made them.
    pub(crate) ops: Vec<HeaderOp>,
    pub(crate) outcome: Outcome,
}

impl RequestState {
    fn new() -> RequestState {
        RequestState {
            result: "",
            reason: "",
            allowed_by: ptr::null(),
            verified: Vec::new(),
            engine_of: None,
            context: 0,
            parked: false,
            ops: Vec::new(),
            outcome: Outcome::Pending,
        }
    }

    /// The variables' values from the request's final verdict.
    pub(crate) fn note_verdict(&mut self, verdict: &Verdict) {
        self.reason = verdict.rejection.map_or("", |r| r.name());
        self.verified.clear();
        self.result = match &verdict.decision {
            Decision::Forward(_) if verdict.unverified => "allow_unverified",
            Decision::Forward(_) if verdict.rejection.is_some() => "dry_run",
            Decision::Forward(_) => {
                self.verified = verdict.verified.clone();
                "allow"
            }
            _ => "deny",
        };
    }

    /// Leaves the engine that knew this request (its pool is going, or another
    /// configuration decides it now).
    fn leave_engine(&mut self) {
        if let Some(loaded) = self.engine_of.take() {
            loaded.port.unregister(self.context);
            if let Ok(mut engine) = loaded.engine.try_borrow_mut() {
                engine.forget_context(self.context);
            }
        }
        self.context = 0;
        self.parked = false;
        self.ops.clear();
        self.outcome = Outcome::Pending;
    }
}

// ---------------------------------------------------------------------------------------------
// Module definition

static mut COMMANDS: [ngx_command_t; 5] = [
    ngx_command_t {
        name: ngx_string!("jwtgate_config_file"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1)
            as ngx_uint_t,
        set: Some(set_config_file),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("jwtgate"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG)
            as ngx_uint_t,
        set: Some(set_enabled),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("jwtgate_test_clock"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1)
            as ngx_uint_t,
        set: Some(set_test_clock),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("jwtgate_metrics"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(set_metrics),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t::empty(),
];

static MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(preconfiguration),
    postconfiguration: Some(postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

ngx::ngx_modules!(ngx_http_jwtgate_module);

#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_jwtgate_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(MODULE_CTX) as _,
    commands: unsafe { ptr::addr_of_mut!(COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(init_process),
    ..ngx_module_t::default()
};

/// Runs `f`; a panic becomes `on_panic` (never an unwind into NGINX).
fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

unsafe fn conf_error(cf: *mut ngx_conf_t, message: &str) -> *mut c_char {
    ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", message);
    NGX_CONF_ERROR
}

unsafe fn arg(cf: *mut ngx_conf_t, index: usize) -> Vec<u8> {
    let args: &[ngx_str_t] = (*(*cf).args).as_slice();
    args.get(index)
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default()
}

unsafe extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    guard(ptr::null_mut(), || {
        let pool = ngx::core::Pool::from_ngx_pool((*cf).pool);
        pool.allocate(LocConf::default()) as *mut c_void
    })
}

unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        let prev = &*(prev as *const LocConf);
        let conf = &mut *(conf as *mut LocConf);
        if conf.enabled.is_none() {
            conf.enabled = prev.enabled;
        }
        if conf.loaded.is_none() {
            conf.loaded = prev.loaded.clone();
        }
        if conf.clock.is_none() {
            conf.clock = prev.clock;
        }
        if let (Some(loaded), Some(clock)) = (&conf.loaded, conf.clock) {
            loaded.port.clock.set(Some(clock));
        }
        if conf.enabled == Some(true) && conf.loaded.is_none() {
            return conf_error(
                cf,
                "\"jwtgate on\" needs \"jwtgate_config_file\" at this level or above",
            );
        }
        NGX_CONF_OK
    })
}

unsafe extern "C" fn set_enabled(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        let conf = &mut *(conf as *mut LocConf);
        if conf.enabled.is_some() {
            return conf_error(cf, "\"jwtgate\" directive is duplicate");
        }
        let value = arg(cf, 1);
        conf.enabled = Some(match value.to_ascii_lowercase().as_slice() {
            b"on" => true,
            b"off" => false,
            _ => return conf_error(cf, "\"jwtgate\" takes \"on\" or \"off\""),
        });
        NGX_CONF_OK
    })
}

unsafe extern "C" fn set_test_clock(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        let conf = &mut *(conf as *mut LocConf);
        let Some(seconds) = std::str::from_utf8(&arg(cf, 1))
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return conf_error(cf, "\"jwtgate_test_clock\" takes unix seconds");
        };
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "jwtgate_test_clock: the clock is frozen at {seconds}: tokens are checked against that time (tests only)"
        );
        conf.clock = Some(seconds);
        NGX_CONF_OK
    })
}

unsafe extern "C" fn set_config_file(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        let conf = &mut *(conf as *mut LocConf);
        if conf.loaded.is_some() {
            return conf_error(cf, "\"jwtgate_config_file\" directive is duplicate");
        }
        // Relative to the configuration's directory, as `include`.
        let args: &mut [ngx_str_t] = (*(*cf).args).as_slice_mut();
        let name = &mut args[1];
        if ngx_conf_full_name((*cf).cycle, name, 1) != NGX_OK as ngx_int_t {
            return NGX_CONF_ERROR;
        }
        let path = String::from_utf8_lossy(name.as_bytes()).into_owned();
        match load(&path) {
            Ok((loaded, warnings)) => {
                for w in warnings {
                    ngx_conf_log_error!(NGX_LOG_WARN, cf, "jwtgate_config_file \"{path}\": {w}");
                }
                let Some(zone) = add_zone(cf) else {
                    return NGX_CONF_ERROR;
                };
                loaded.port.zone.set(zone);
                let loaded = Rc::new(loaded);
                loaded.port.owner.set(Rc::as_ptr(&loaded) as *const c_void);
                LOADED.with(|all| {
                    if let Ok(mut all) = all.try_borrow_mut() {
                        all.retain(|w| w.strong_count() > 0);
                        all.push(Rc::downgrade(&loaded));
                    }
                });
                conf.loaded = Some(loaded);
                NGX_CONF_OK
            }
            Err(message) => conf_error(cf, &format!("jwtgate_config_file \"{path}\": {message}")),
        }
    })
}

/// The `jwtgate` zone (fetched key sets, fetch claims, metrics): one for every configuration,
/// the same name and size each time.
unsafe fn add_zone(cf: *mut ngx_conf_t) -> Option<*mut ngx_shm_zone_t> {
    let mut zone_name = ngx_str_t {
        len: shared::ZONE_NAME.len(),
        data: shared::ZONE_NAME.as_ptr() as *mut u_char,
    };
    let zone = ngx_shared_memory_add(
        cf,
        &mut zone_name,
        shared::ZONE_SIZE,
        ptr::addr_of_mut!(ngx_http_jwtgate_module) as *mut c_void,
    );
    if zone.is_null() {
        return None;
    }
    (*zone).init = Some(shared::init_zone);
    Some(zone)
}

/// `jwtgate_metrics;`: this location answers with every metric of every worker.
unsafe extern "C" fn set_metrics(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        let conf = &mut *(conf as *mut LocConf);
        if conf.metrics.is_some() {
            return conf_error(cf, "\"jwtgate_metrics\" directive is duplicate");
        }
        let Some(zone) = add_zone(cf) else {
            return NGX_CONF_ERROR;
        };
        conf.metrics = Some(zone);
        let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
        let index = (*ptr::addr_of!(ngx_http_core_module)).ctx_index;
        let clcf = *(*ctx).loc_conf.add(index) as *mut ngx_http_core_loc_conf_t;
        let Some(clcf) = clcf.as_mut() else {
            return NGX_CONF_ERROR;
        };
        clcf.handler = Some(metrics_handler);
        NGX_CONF_OK
    })
}

/// The content handler of `jwtgate_metrics`: `name: value` lines (Envoy's `/stats` text),
/// sorted, summed over the workers.
unsafe extern "C" fn metrics_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || {
        let method = (*r).method as u32;
        if method != NGX_HTTP_GET && method != NGX_HTTP_HEAD {
            return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
        }
        let rc = ngx_http_discard_request_body(r);
        if rc != NGX_OK as ngx_int_t {
            return rc;
        }
        let Some(zone) = loc_conf(r).and_then(|c| c.metrics) else {
            return NGX_HTTP_NOT_FOUND as ngx_int_t;
        };
        let text: String = shared::counters(zone)
            .iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect();
        let pool = (*r).pool;
        let (Some(body), Some(mut ct)) = (
            pool_str(pool, text.as_bytes()),
            pool_str(pool, b"text/plain; charset=utf-8"),
        ) else {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        };
        let mut cv: ngx_http_complex_value_t = std::mem::zeroed();
        cv.value = body;
        ngx_http_send_response(r, NGX_HTTP_OK as ngx_uint_t, &mut ct, &mut cv)
    })
}

/// Reads and validates a configuration file: the wasm filter's JSON (with `local_jwks.filename`
/// and `keys[].pem_file`/`secret_file` read here), and builds its engine.
fn load(path: &str) -> Result<(Loaded, Vec<String>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let base = std::path::Path::new(path)
        .parent()
        .unwrap_or(std::path::Path::new("/"));
    let bytes = glue::inline_files(&bytes, base)?.unwrap_or(bytes);
    let mut gateway = Gateway::from_json(&bytes).map_err(|e| e.to_string())?;
    let calls = gateway.remote_providers().next().is_some() || !gateway.ext_services().is_empty();
    // A cluster names the internal location a callout goes to: one path segment.
    let clusters = gateway
        .remote_providers()
        .map(|(_, name, r)| (format!("providers.{name}.remote_jwks"), &r.endpoint))
        .chain(
            gateway
                .ext_services()
                .iter()
                .map(|s| (format!("ext_auth.{}", s.name), &s.endpoint)),
        );
    for (at, endpoint) in clusters {
        if !glue::is_location_segment(&endpoint.upstream) {
            return Err(format!(
                "{at}.http_uri.cluster: `{}` cannot name the internal location {}<cluster>/ \
                 (one path segment: no `/`, `?`, `#`, `%`, spaces or control characters)",
                endpoint.upstream,
                port::CALLOUT_PREFIX
            ));
        }
    }
    // Every worker reads the zone: a key set one worker fetched serves them all.
    gateway.share_jwks_always();
    let warnings = gateway.warnings().to_vec();
    let port = Rc::new(NginxPort::new());
    port.reads_peer_certificate
        .set(gateway.reads_peer_certificate());
    // The token cache's hash key (per configuration load; workers inherit it).
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(path.as_bytes());
        h.finish()
    };
    let engine = Engine::new(gateway, Box::new(PortHandle(Rc::clone(&port))), seed);
    Ok((
        Loaded {
            engine: RefCell::new(engine),
            port,
            calls,
            due_checked_ms: Cell::new(0),
        },
        warnings,
    ))
}

// ---------------------------------------------------------------------------------------------
// Variables

const VARIABLES: [(&str, usize); 2] = [("jwtgate_result", 0), ("jwtgate_reason", 1)];

unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        for (name, data) in VARIABLES {
            let mut name = ngx_str_t {
                len: name.len(),
                data: name.as_ptr() as *mut u_char,
            };
            let var = ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t);
            if var.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            (*var).get_handler = Some(get_variable);
            (*var).data = data;
        }
        // A prefix variable: NGINX hands the handler a pointer to the whole (lower-cased)
        // name, `jwtgate_claim_…`, as `data`.
        let mut name = ngx_str_t {
            len: glue::CLAIM_VARIABLE_PREFIX.len(),
            data: glue::CLAIM_VARIABLE_PREFIX.as_ptr() as *mut u_char,
        };
        let flags = NGX_HTTP_VAR_PREFIX | NGX_HTTP_VAR_NOCACHEABLE;
        let var = ngx_http_add_variable(cf, &mut name, flags as ngx_uint_t);
        if var.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*var).get_handler = Some(get_claim_variable);
        (*var).data = 0;
        NGX_OK as ngx_int_t
    })
}

unsafe extern "C" fn get_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        let v = &mut *v;
        let value = request_state(r).map(|s| if data == 0 { s.result } else { s.reason });
        match value {
            Some(text) if !text.is_empty() || data == 1 => {
                set_found(v, text.as_ptr() as *mut u_char, text.len())
            }
            _ => v.set_not_found(1),
        }
        NGX_OK as ngx_int_t
    })
}

/// `$jwtgate_claim_<name>`: the claim's text (see `glue::claim_text`), copied into the
/// request's pool; not found (empty) unless the request was allowed with a token holding it.
unsafe extern "C" fn get_claim_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        let v = &mut *v;
        v.set_not_found(1);
        let Some(variable) = (data as *const ngx_str_t).as_ref() else {
            return NGX_OK as ngx_int_t;
        };
        let Some(state) = request_state(r) else {
            return NGX_OK as ngx_int_t;
        };
        if state.verified.is_empty() {
            return NGX_OK as ngx_int_t;
        }
        let Some(name) = glue::claim_name(bytes(variable)) else {
            return NGX_OK as ngx_int_t;
        };
        let tokens: Vec<&serde_json::Map<String, serde_json::Value>> =
            state.verified.iter().map(|t| &t.claims).collect();
        let Some(text) = glue::claim_text(&tokens, &name) else {
            return NGX_OK as ngx_int_t;
        };
        let Some(value) = pool_str((*r).pool, text.as_bytes()) else {
            return NGX_ERROR as ngx_int_t;
        };
        set_found(v, value.data, value.len);
        NGX_OK as ngx_int_t
    })
}

/// A variable's value: `len` bytes at `data`, which live as long as the request.
fn set_found(v: &mut ngx_variable_value_t, data: *mut u_char, len: usize) {
    v.data = data;
    v.set_len(len as u32);
    v.set_valid(1);
    v.set_no_cacheable(0);
    v.set_not_found(0);
}

#[inline(never)]
unsafe extern "C" fn drop_request_state(data: *mut c_void) {
    if !data.is_null() {
        let _ = catch_unwind(|| {
            let mut state = Box::from_raw(data as *mut RequestState);
            state.leave_engine();
            drop(state)
        });
    }
}

/// The cleanup handler that marks our state, read from one place: a non-generic, non-inline
/// function has one address (the lint's caveat is about functions duplicated across codegen
/// units or merged with identical ones; this one frees a `Box<RequestState>`, unlike any other).
static STATE_CLEANUP: unsafe extern "C" fn(*mut c_void) = drop_request_state;

pub(crate) unsafe fn request_state<'a>(r: *mut ngx_http_request_t) -> Option<&'a mut RequestState> {
    let mut c = (*(*r).pool).cleanup;
    while !c.is_null() {
        if (*c)
            .handler
            .is_some_and(|h| std::ptr::fn_addr_eq(h, STATE_CLEANUP))
        {
            return ((*c).data as *mut RequestState).as_mut();
        }
        c = (*c).next;
    }
    None
}

/// The request's state, created on first use.
unsafe fn state_of<'a>(r: *mut ngx_http_request_t) -> Option<&'a mut RequestState> {
    if request_state(r).is_none() {
        let c = ngx_pool_cleanup_add((*r).pool, 0);
        if c.is_null() {
            return None;
        }
        (*c).data = Box::into_raw(Box::new(RequestState::new())) as *mut c_void;
        (*c).handler = Some(STATE_CLEANUP);
    }
    request_state(r)
}

// ---------------------------------------------------------------------------------------------
// The access-phase handler

unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(&*cf) else {
            return NGX_ERROR as ngx_int_t;
        };
        let h = ngx_array_push(
            &mut cmcf.phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize].handlers,
        ) as *mut ngx_http_handler_pt;
        if h.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        *h = Some(access_handler);
        let h = ngx_array_push(
            &mut cmcf.phases[ngx_http_phases_NGX_HTTP_PREACCESS_PHASE as usize].handlers,
        ) as *mut ngx_http_handler_pt;
        if h.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        *h = Some(callout_check);
        NGX_OK as ngx_int_t
    })
}

unsafe extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    match catch_unwind(AssertUnwindSafe(|| decide(r))) {
        Ok(rc) => rc,
        Err(_) => {
            ngx_log_error!(
                NGX_LOG_ALERT,
                (*(*r).connection).log,
                "jwtgate: panic while deciding the request: answering 500"
            );
            NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t
        }
    }
}

unsafe fn loc_conf<'a>(r: *mut ngx_http_request_t) -> Option<&'a LocConf> {
    let index = (*ptr::addr_of!(ngx_http_jwtgate_module)).ctx_index;
    let conf = *(*r).loc_conf.add(index) as *const LocConf;
    conf.as_ref()
}

pub(crate) unsafe fn bytes<'a>(s: &ngx_str_t) -> &'a [u8] {
    if s.data.is_null() || s.len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(s.data, s.len)
    }
}

/// The request's header entries, in order.
pub(crate) unsafe fn header_entries(r: *mut ngx_http_request_t) -> Vec<*mut ngx_table_elt_t> {
    let mut out = Vec::new();
    let mut part: *mut ngx_list_part_t = &mut (*r).headers_in.headers.part;
    while !part.is_null() {
        let elts = (*part).elts as *mut ngx_table_elt_t;
        for i in 0..(*part).nelts {
            out.push(elts.add(i));
        }
        part = (*part).next;
    }
    out
}

unsafe fn decide(r: *mut ngx_http_request_t) -> ngx_int_t {
    let Some(conf) = loc_conf(r) else {
        return NGX_DECLINED as ngx_int_t;
    };
    let Some(loaded) = conf.active() else {
        return NGX_DECLINED as ngx_int_t;
    };
    if r != (*r).main {
        return NGX_DECLINED as ngx_int_t;
    }
    let log = (*(*r).connection).log;
    let Some(state) = state_of(r) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    // An internal redirect re-runs the access phase: a request this configuration already
    // allowed is not decided again (its token may have been removed).
    if ptr::eq(state.allowed_by, Rc::as_ptr(loaded)) {
        return NGX_DECLINED as ngx_int_t;
    }
    let known = state
        .engine_of
        .as_ref()
        .is_some_and(|l| Rc::ptr_eq(l, loaded));
    if known {
        match std::mem::take(&mut state.outcome) {
            Outcome::Forward => return forward(r, loaded),
            Outcome::Respond(response) => return respond(r, &response),
            // Woken by something else (a write event): still waiting.
            Outcome::Pending if state.parked => return NGX_AGAIN as ngx_int_t,
            Outcome::Pending => {}
        }
    } else {
        state.leave_engine();
        state.engine_of = Some(Rc::clone(loaded));
        state.context = loaded.port.register(r);
    }
    let context = state.context;
    // From here the engine reaches the state through the port: no reference is held across.
    let now = loaded.port.now_ms();
    let Ok(mut engine) = loaded.engine.try_borrow_mut() else {
        ngx_log_error!(
            NGX_LOG_ALERT,
            log,
            "jwtgate: the engine is busy (re-entered): answering 500"
        );
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let forwarded = loaded.port.with_request(r, true, || {
        // Fetches start from requests (a subrequest needs a parent): prefetches and
        // refreshes that came due, looked for at most every 250 ms.
        if loaded.calls && now >= loaded.due_checked_ms.get().saturating_add(250) {
            loaded.due_checked_ms.set(now);
            engine.start_due_fetches(context, now);
        }
        engine.on_request(context, now)
    });
    drop(engine);
    let Some(state) = request_state(r) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    if forwarded {
        state.outcome = Outcome::Forward;
    }
    match std::mem::take(&mut state.outcome) {
        Outcome::Forward => forward(r, loaded),
        Outcome::Respond(response) => respond(r, &response),
        Outcome::Pending => {
            // Parked until keys or an auth answer arrive (the engine wakes it, or answers it
            // when it has waited too long); a client that goes away ends it (499).
            state.parked = true;
            (*r).read_event_handler = Some(ngx_http_test_reading);
            NGX_AGAIN as ngx_int_t
        }
    }
}

/// Applies a forwarded request's header changes and lets it continue.
unsafe fn forward(r: *mut ngx_http_request_t, loaded: &Rc<Loaded>) -> ngx_int_t {
    let log = (*(*r).connection).log;
    let Some(state) = request_state(r) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    if state.parked {
        state.parked = false;
        (*r).read_event_handler = Some(ngx_http_block_reading);
    }
    state.allowed_by = Rc::as_ptr(loaded);
    let ops = std::mem::take(&mut state.ops);
    if apply(r, &header_entries(r), &ops).is_none() {
        ngx_log_error!(
            NGX_LOG_ERR,
            log,
            "jwtgate: could not apply the header changes: answering 500"
        );
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    }
    // Not NGX_OK: under `satisfy any` that would grant access past other modules.
    NGX_DECLINED as ngx_int_t
}

// ---------------------------------------------------------------------------------------------
// Callouts (subrequests) and the timer

/// A callout's subrequest ended: its answer goes to the engine that made it.
pub(crate) unsafe extern "C" fn callout_done(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    guard(rc, || {
        let Some(callout) = (data as *mut port::Callout).as_mut() else {
            return rc;
        };
        if callout.delivered {
            return rc;
        }
        callout.delivered = true;
        let Some(loaded) = (callout.owner as *const Loaded).as_ref() else {
            return rc;
        };
        let parent = (*sr).main;
        let log = (*(*sr).connection).log;
        let misrouted = callout.misrouted || !internal_location(sr);
        let answer = read_answer(sr, rc, misrouted, log);
        let context = request_state(parent)
            .filter(|s| {
                s.engine_of
                    .as_ref()
                    .is_some_and(|l| ptr::eq(Rc::as_ptr(l), loaded))
            })
            .map_or(0, |s| s.context);
        let Ok(mut engine) = loaded.engine.try_borrow_mut() else {
            ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "jwtgate: the engine is busy (re-entered): a callout's answer is dropped"
            );
            return rc;
        };
        let size = answer.body.len();
        let token = callout.token;
        loaded.port.with_request(parent, false, || {
            loaded
                .port
                .deliver(answer, || engine.on_call_response(token, size, context))
        });
        rc
    })
}

/// Whether the (sub)request runs in an `internal` location.
unsafe fn internal_location(r: *mut ngx_http_request_t) -> bool {
    let index = (*ptr::addr_of!(ngx_http_core_module)).ctx_index;
    let clcf = *(*r).loc_conf.add(index) as *const ngx_http_core_loc_conf_t;
    clcf.as_ref().is_some_and(|c| c.internal != 0)
}

/// The subrequest's answer as the engine reads a proxy-wasm callout's: `:status` (none when
/// NGINX itself failed: no connection, a timeout, a body over `subrequest_output_buffer_size`,
/// a location that is not `internal`), the headers, the body kept in memory.
unsafe fn read_answer(
    sr: *mut ngx_http_request_t,
    rc: ngx_int_t,
    misrouted: bool,
    log: *mut ngx_log_t,
) -> port::Answer {
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let status = (*sr).headers_out.status;
    let uri = String::from_utf8_lossy(bytes(&(*sr).uri)).into_owned();
    let failed = rc == NGX_ERROR as ngx_int_t || rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t;
    if misrouted {
        ngx_log_error!(
            NGX_LOG_ERR,
            log,
            "jwtgate: callout \"{uri}\" did not reach an `internal` location: declare `location {}<cluster>/ {{ internal; proxy_pass …; }}` (README: native module)",
            port::CALLOUT_PREFIX
        );
        headers.push((
            b":dispatch_status".to_vec(),
            b"no internal location".to_vec(),
        ));
    } else if failed || status == 0 {
        let index = (*ptr::addr_of!(ngx_http_core_module)).ctx_index;
        let clcf = *(*sr).loc_conf.add(index) as *const ngx_http_core_loc_conf_t;
        let limit = clcf.as_ref().map_or(0, |c| c.subrequest_output_buffer_size);
        let why = if (200..300).contains(&status) {
            format!(
                "the answer did not fit: `subrequest_output_buffer_size` is {limit} bytes in its location, make it at least `max_body_bytes`"
            )
        } else {
            format!("NGINX ended it with {rc} (no connection, a timeout, or an error)")
        };
        ngx_log_error!(
            NGX_LOG_WARN,
            log,
            "jwtgate: callout \"{uri}\" failed: {why}"
        );
        headers.push((b":dispatch_status".to_vec(), why.into_bytes()));
    } else {
        headers.push((b":status".to_vec(), status.to_string().into_bytes()));
        let ct = bytes(&(*sr).headers_out.content_type);
        if !ct.is_empty() {
            headers.push((b"content-type".to_vec(), ct.to_vec()));
        }
        let mut part: *mut ngx_list_part_t = &mut (*sr).headers_out.headers.part;
        while !part.is_null() {
            let elts = (*part).elts as *mut ngx_table_elt_t;
            for i in 0..(*part).nelts {
                let e = elts.add(i);
                if (*e).hash != 0 {
                    headers.push((bytes(&(*e).key).to_vec(), bytes(&(*e).value).to_vec()));
                }
            }
            part = (*part).next;
        }
    }
    let mut body = Vec::new();
    if !misrouted && !failed {
        let out = (*sr).out;
        if !out.is_null() && !(*out).buf.is_null() {
            let b = (*out).buf;
            let len = (*b).last.offset_from((*b).pos).max(0) as usize;
            if len > 0 {
                body = std::slice::from_raw_parts((*b).pos, len).to_vec();
            }
        }
    }
    port::Answer { headers, body }
}

/// Preaccess check of our callouts: one that reached a location other than an `internal` one
/// (no `/_jwtgate/…` location declared, so e.g. `location /` matched) goes no further, so no
/// credential or fetch reaches the wrong place.
unsafe extern "C" fn callout_check(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        if r == (*r).main {
            return NGX_DECLINED as ngx_int_t;
        }
        let Some(callout) = port::callout_of(r) else {
            return NGX_DECLINED as ngx_int_t;
        };
        if internal_location(r) {
            return NGX_DECLINED as ngx_int_t;
        }
        callout.misrouted = true;
        NGX_HTTP_FORBIDDEN as ngx_int_t
    })
}

/// Every tick a parked request is decided again when its keys are not being fetched here (e.g.
/// another worker fetches them), so the tick bounds how late it sees that worker's copy.
const TICK_MS: ngx_msec_t = 250;

/// The shared fetch claims of every remote key set of the loaded configurations.
pub(crate) fn lease_keys() -> Vec<String> {
    LOADED.with(|all| {
        let Ok(all) = all.try_borrow() else {
            return Vec::new();
        };
        all.iter()
            .filter_map(Weak::upgrade)
            .filter_map(|l| {
                l.engine.try_borrow().ok().map(|e| {
                    e.gateway
                        .remote_providers()
                        .map(|(_, _, r)| r.lease_key())
                        .collect::<Vec<_>>()
                })
            })
            .flatten()
            .collect()
    })
}

/// Each worker's timer (when a configuration calls out): the engines answer requests that
/// waited too long, give up calls past their deadline, and decide parked requests again.
unsafe extern "C" fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    guard(NGX_OK as ngx_int_t, || {
        let any = LOADED.with(|all| {
            all.try_borrow()
                .map(|all| all.iter().any(|w| w.upgrade().is_some_and(|l| l.calls)))
                .unwrap_or(false)
        });
        if !any {
            return NGX_OK as ngx_int_t;
        }
        // Workers forked from one master share the engines' seed: the process id tells them
        // apart in shared fetch claims.
        let all: Vec<Rc<Loaded>> = LOADED.with(|all| {
            all.try_borrow()
                .map(|all| all.iter().filter_map(Weak::upgrade).collect())
                .unwrap_or_default()
        });
        for loaded in &all {
            if let Ok(mut engine) = loaded.engine.try_borrow_mut() {
                engine.set_worker_id(ngx_pid as u64);
            }
        }
        let ev = ngx_pcalloc((*cycle).pool, std::mem::size_of::<ngx_event_t>()) as *mut ngx_event_t;
        if ev.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        // NGINX's debug log reads a timer's `data` as a connection (its fd): a connection with
        // no socket, as NGINX's own connection-less timers have.
        let dummy = ngx_pcalloc((*cycle).pool, std::mem::size_of::<ngx_connection_t>())
            as *mut ngx_connection_t;
        if dummy.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*dummy).fd = -1;
        (*ev).data = dummy as *mut c_void;
        (*ev).handler = Some(on_timer);
        (*ev).log = (*cycle).log;
        // A pending tick never holds up a graceful shutdown.
        (*ev).set_cancelable(1);
        ngx_add_timer(ev, TICK_MS);
        NGX_OK as ngx_int_t
    })
}

unsafe extern "C" fn on_timer(ev: *mut ngx_event_t) {
    guard((), || {
        let all: Vec<Rc<Loaded>> = LOADED.with(|all| {
            all.try_borrow()
                .map(|all| all.iter().filter_map(Weak::upgrade).collect())
                .unwrap_or_default()
        });
        for loaded in all.iter().filter(|l| l.calls) {
            let now = loaded.port.now_ms();
            if let Ok(mut engine) = loaded.engine.try_borrow_mut() {
                loaded
                    .port
                    .with_request(ptr::null_mut(), false, || engine.on_idle_tick(0, now));
            }
        }
    });
    if ngx_exiting == 0 && ngx_quit == 0 && ngx_terminate == 0 {
        ngx_add_timer(ev, TICK_MS);
    }
}

pub(crate) unsafe fn pool_str(pool: *mut ngx_pool_t, s: &[u8]) -> Option<ngx_str_t> {
    if s.is_empty() {
        return Some(ngx_str_t {
            len: 0,
            data: ptr::null_mut(),
        });
    }
    ngx_str_t::from_bytes(pool, s)
}

/// Sends the core's local response from the access phase and finalizes the request.
unsafe fn respond(r: *mut ngx_http_request_t, response: &LocalResponse) -> ngx_int_t {
    let pool = (*r).pool;
    let redirect = (301..=308).contains(&response.status);
    let mut content_type = None;
    let mut location = None;
    for (name, value) in &response.headers {
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.as_str());
            continue;
        }
        if redirect && name.eq_ignore_ascii_case("location") {
            location = Some(value.as_str());
            continue;
        }
        if glue::written_by_nginx(name) {
            continue;
        }
        let h = ngx_list_push(&mut (*r).headers_out.headers) as *mut ngx_table_elt_t;
        if h.is_null() || add_to_ngx_table(h, pool, name, value).is_none() {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
        (*h).hash = 1;
    }
    // ngx_http_send_response: discards the request body, sets the content type and length,
    // sends; for a redirect the value is the Location and NGINX writes its own page.
    let value = if redirect {
        location.unwrap_or("/")
    } else {
        &response.body
    };
    let Some(value) = pool_str(pool, value.as_bytes()) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let mut cv: ngx_http_complex_value_t = std::mem::zeroed();
    cv.value = value;
    let mut ct = match content_type {
        Some(ct) => match pool_str(pool, ct.as_bytes()) {
            Some(s) => s,
            None => return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        },
        None => ngx_str_t {
            len: 0,
            data: ptr::null_mut(),
        },
    };
    let ct_ptr = if content_type.is_some() {
        &mut ct as *mut ngx_str_t
    } else {
        ptr::null_mut()
    };
    let rc = ngx_http_send_response(r, response.status as ngx_uint_t, ct_ptr, &mut cv);
    ngx_http_finalize_request(r, rc);
    NGX_DONE as ngx_int_t
}

/// Whether `path` still starts with the name of the request's location when that is a prefix
/// or exact location (regex, named and unnamed locations have no prefix to keep).
unsafe fn within_location(r: *mut ngx_http_request_t, path: &[u8]) -> bool {
    let index = (*ptr::addr_of!(ngx_http_core_module)).ctx_index;
    let clcf = *(*r).loc_conf.add(index) as *const ngx_http_core_loc_conf_t;
    let Some(clcf) = clcf.as_ref() else {
        return true;
    };
    if !clcf.regex.is_null() || clcf.named() != 0 || clcf.noname() != 0 {
        return true;
    }
    let name = bytes(&clcf.name);
    // Locations compare case-insensitively on case-insensitive systems only; NGINX on Linux
    // compares bytes.
    path.starts_with(name)
}

/// Applies a `Forward` decision to the request: `r->headers_in.headers` is rebuilt without the
/// removed entries (the proxy module copies every entry of the list, so zeroing a hash is not
/// enough) and with the set ones; the `headers_in` shortcuts follow; a `:path` change rewrites
/// the request target (`unparsed_uri`, `uri`, `args`).
unsafe fn apply(
    r: *mut ngx_http_request_t,
    entries: &[*mut ngx_table_elt_t],
    ops: &[HeaderOp],
) -> Option<()> {
    let pool = (*r).pool;
    let names: Vec<&[u8]> = entries.iter().map(|&e| bytes(&(*e).key)).collect();
    if let Some(plan) = glue::plan(&names, ops) {
        let mut list: ngx_list_t = std::mem::zeroed();
        let n = plan.len().max(1) as ngx_uint_t;
        if ngx_list_init(&mut list, pool, n, std::mem::size_of::<ngx_table_elt_t>())
            != NGX_OK as ngx_int_t
        {
            return None;
        }
        for entry in &plan {
            let h = ngx_list_push(&mut list) as *mut ngx_table_elt_t;
            if h.is_null() {
                return None;
            }
            match entry {
                glue::Entry::Kept(i) => *h = *entries[*i],
                glue::Entry::Added(name, value) => add_to_ngx_table(h, pool, name, value)?,
            }
        }
        let headers_in = &mut (*r).headers_in;
        headers_in.headers = list;
        let rebuilt = header_entries(r);
        let touched = |name: &str| {
            ops.iter().any(|op| match op {
                HeaderOp::Remove(n) | HeaderOp::Set(n, _) => n.eq_ignore_ascii_case(name),
            })
        };
        let named = |name: &'static str| {
            rebuilt
                .iter()
                .copied()
                .filter(move |&e| bytes(&(*e).key).eq_ignore_ascii_case(name.as_bytes()))
        };
        let headers_in = &mut (*r).headers_in;
        for (name, field) in single_fields!(headers_in) {
            if touched(name) {
                *field = named(name).next().unwrap_or(ptr::null_mut());
            }
        }
        for (name, array) in [
            ("cookie", &mut headers_in.cookies as *mut ngx_array_t),
            ("x-forwarded-for", &mut headers_in.x_forwarded_for),
        ] {
            if !touched(name) {
                continue;
            }
            let found: Vec<*mut ngx_table_elt_t> = named(name).collect();
            // ngx_array_init (a C inline).
            let n = found.len().max(1);
            let size = std::mem::size_of::<*mut ngx_table_elt_t>();
            let elts = ngx_palloc(pool, n * size);
            if elts.is_null() {
                return None;
            }
            *array = ngx_array_t {
                elts,
                nelts: 0,
                size,
                nalloc: n as ngx_uint_t,
                pool,
            };
            for e in found {
                let slot = ngx_array_push(array) as *mut *mut ngx_table_elt_t;
                if slot.is_null() {
                    return None;
                }
                *slot = e;
            }
        }
    }
    if let Some(target) = glue::path_change(ops) {
        let (path, args) = match target.split_once('?') {
            Some((p, a)) => (p, Some(a)),
            None => (target, None),
        };
        (*r).unparsed_uri = pool_str(pool, target.as_bytes())?;
        (*r).args = match args {
            Some(a) => pool_str(pool, a.as_bytes())?,
            None => ngx_str_t {
                len: 0,
                data: ptr::null_mut(),
            },
        };
        // `uri` is the decoded path (what `$uri` and `proxy_pass http://up/prefix/` use).
        let src = pool_str(pool, path.as_bytes())?;
        let dst = ngx_pnalloc(pool, path.len().max(1)) as *mut u_char;
        if dst.is_null() {
            return None;
        }
        let (mut s, mut d) = (src.data, dst);
        if !s.is_null() {
            ngx_unescape_uri(&mut d, &mut s, path.len(), 0);
        }
        let uri = ngx_str_t {
            len: d.offset_from(dst) as usize,
            data: dst,
        };
        // `proxy_pass http://up/prefix/;` in a prefix location replaces the location's name at
        // the start of `uri`: a new path without it would be cut wrongly (NGINX computes the
        // length as `uri.len - name.len`). Refuse rather than forward something else.
        if !within_location(r, bytes(&uri)) {
            ngx_log_error!(
                NGX_LOG_ERR,
                (*(*r).connection).log,
                "jwtgate: the normalized path leaves the location chosen for the original one: answering 500"
            );
            return None;
        }
        (*r).uri = uri;
    }
    Some(())
}

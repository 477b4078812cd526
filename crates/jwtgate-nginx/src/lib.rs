//! jwtgate as a native dynamic module for stock NGINX: the same core and the same JSON
//! configuration as the proxy-wasm filter, decided in the access phase.
//!
//! Directives (http, server, location; inherited downwards):
//! - `jwtgate_config_file PATH;` the filter's JSON, read and validated when the configuration
//!   is loaded (`nginx -t` fails with the core's field-path message);
//! - `jwtgate on | off;` (`off` disables the check below that level);
//! - `jwtgate_test_clock UNIX_SECONDS;` freezes the clock, for tests only.
//!
//! Variables: `$jwtgate_result` (`allow`, `deny`, `dry_run`; empty when jwtgate did not run),
//! `$jwtgate_reason` (the refusal reason, e.g. `invalid_signature`) and `$jwtgate_claim_<name>`
//! (a verified token's claim, `__` for `.` in nested names; empty unless allowed).
//!
//! Nothing may unwind into NGINX: every entry point runs under `catch_unwind`; a panic while
//! deciding answers 500, one while loading the configuration fails it.

#![allow(clippy::missing_safety_doc)]

pub mod glue;

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use jwtgate_core::provider::Verified;
use jwtgate_core::vm_state::VmState;
use jwtgate_core::{Decision, Gateway, HeaderOp, LocalResponse, Request};
use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::*;
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_log_error, ngx_string};

/// A loaded configuration: shared by every location that inherits it. Each worker process has
/// its own copy after `fork`, so the state (the token cache) is per worker; a worker runs one
/// thread. Built once, not per request.
struct Loaded {
    gateway: Gateway,
    state: RefCell<VmState>,
}

/// The location configuration (also used at http and server level, merged downwards).
#[derive(Default)]
struct LocConf {
    enabled: Option<bool>,
    loaded: Option<Rc<Loaded>>,
    /// `jwtgate_test_clock`: unix seconds used instead of the clock.
    clock: Option<u64>,
}

impl LocConf {
    fn active(&self) -> Option<&Rc<Loaded>> {
        if self.enabled == Some(false) {
            return None;
        }
        self.loaded.as_ref()
    }
}

/// What jwtgate decided for a request: kept in a cleanup of the request's pool (found by its
/// handler), so it survives internal redirects, which clear module contexts.
struct RequestState {
    result: &'static str,
    reason: &'static str,
    /// The configuration that allowed the request (compared by address): another location
    /// with the same configuration does not decide again after an internal redirect.
    allowed_by: *const Loaded,
    /// The verified tokens of an allowed request (`$jwtgate_claim_<name>`).
    verified: Vec<Rc<Verified>>,
}

// ---------------------------------------------------------------------------------------------
// Module definition

static mut COMMANDS: [ngx_command_t; 4] = [
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
                conf.loaded = Some(Rc::new(loaded));
                NGX_CONF_OK
            }
            Err(message) => conf_error(cf, &format!("jwtgate_config_file \"{path}\": {message}")),
        }
    })
}

/// Reads and validates a configuration file: the wasm filter's JSON (with `local_jwks.filename`
/// read here), minus what the native module cannot do yet.
fn load(path: &str) -> Result<(Loaded, Vec<String>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let base = std::path::Path::new(path)
        .parent()
        .unwrap_or(std::path::Path::new("/"));
    let bytes = glue::inline_files(&bytes, base)?.unwrap_or(bytes);
    let gateway = Gateway::from_json(&bytes).map_err(|e| e.to_string())?;
    if let Some((_, name, _)) = gateway.remote_providers().next() {
        return Err(format!(
            "providers.{name}.remote_jwks: not yet supported natively (use `keys` or `local_jwks`)"
        ));
    }
    if let Some(service) = gateway.ext_services().first() {
        return Err(format!(
            "ext_auth.{}: not yet supported natively (use NGINX `auth_request`)",
            service.name
        ));
    }
    let warnings = gateway.warnings().to_vec();
    let state = RefCell::new(gateway.new_vm_state(0));
    Ok((Loaded { gateway, state }, warnings))
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
            Some(text) => set_found(v, text.as_ptr() as *mut u_char, text.len()),
            None => v.set_not_found(1),
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
        let _ = catch_unwind(|| drop(Box::from_raw(data as *mut RequestState)));
    }
}

/// The cleanup handler that marks our state, read from one place: a non-generic, non-inline
/// function has one address (the lint's caveat is about functions duplicated across codegen
/// units or merged with identical ones; this one frees a `Box<RequestState>`, unlike any other).
static STATE_CLEANUP: unsafe extern "C" fn(*mut c_void) = drop_request_state;

unsafe fn request_state<'a>(r: *mut ngx_http_request_t) -> Option<&'a mut RequestState> {
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

unsafe fn set_request_state(r: *mut ngx_http_request_t, state: RequestState) -> Option<()> {
    if let Some(existing) = request_state(r) {
        *existing = state;
        return Some(());
    }
    let c = ngx_pool_cleanup_add((*r).pool, 0);
    if c.is_null() {
        return None;
    }
    (*c).data = Box::into_raw(Box::new(state)) as *mut c_void;
    (*c).handler = Some(STATE_CLEANUP);
    Some(())
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

unsafe fn bytes<'a>(s: &ngx_str_t) -> &'a [u8] {
    if s.data.is_null() || s.len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(s.data, s.len)
    }
}

/// The request's header entries, in order.
unsafe fn header_entries(r: *mut ngx_http_request_t) -> Vec<*mut ngx_table_elt_t> {
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
    // An internal redirect re-runs the access phase: a request this configuration already
    // allowed is not decided again (its token may have been removed).
    if request_state(r).is_some_and(|s| ptr::eq(s.allowed_by, Rc::as_ptr(loaded))) {
        return NGX_DECLINED as ngx_int_t;
    }
    let log = (*(*r).connection).log;

    let entries = header_entries(r);
    let headers: Vec<(String, String)> = entries
        .iter()
        .map(|&e| {
            (
                glue::lossy(bytes(&(*e).key)),
                glue::lossy(bytes(&(*e).value)),
            )
        })
        .collect();
    let method = glue::lossy(bytes(&(*r).method_name));
    let path = glue::encode_path(bytes(&(*r).unparsed_uri));
    let request = Request {
        method: &method,
        path: &path,
        headers: &headers,
    };
    let now = conf.clock.unwrap_or_else(|| ngx_time().max(0) as u64);
    // Nothing is fetched natively (yet): never wait; no auth answers.
    let verdict = match loaded.state.try_borrow_mut() {
        Ok(mut state) => {
            loaded
                .gateway
                .decide_with(&request, now.saturating_mul(1000), &mut state, &[], false)
        }
        Err(_) => loaded.gateway.decide(&request, now),
    };
    // The log line only for a refusal (or a dry-run one): formatting it costs about a
    // microsecond, a tenth of an allowed request's time here.
    let log_refusal = || {
        ngx_log_error!(NGX_LOG_INFO, log, "{}", verdict.log_line(&method, &path));
    };
    let reason = verdict.rejection.map_or("", |r| r.name());
    match &verdict.decision {
        Decision::Respond(response) => {
            log_refusal();
            let _ = set_request_state(
                r,
                RequestState {
                    result: "deny",
                    reason,
                    allowed_by: ptr::null(),
                    verified: Vec::new(),
                },
            );
            respond(r, response)
        }
        Decision::Forward(ops) => {
            if verdict.rejection.is_some() {
                log_refusal();
            }
            let state = RequestState {
                result: if verdict.rejection.is_some() {
                    "dry_run"
                } else {
                    "allow"
                },
                reason,
                allowed_by: Rc::as_ptr(loaded),
                verified: verdict.verified.clone(),
            };
            if set_request_state(r, state).is_none() || apply(r, &entries, ops).is_none() {
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
        Decision::WaitForKeys(_) | Decision::AskExtAuth { .. } => {
            // Decided with may_wait = false and no fetches or callouts configured: never
            // paused; fail closed if it ever were.
            ngx_log_error!(NGX_LOG_ERR, log, "jwtgate: unexpected pause: answering 500");
            NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t
        }
    }
}

unsafe fn pool_str(pool: *mut ngx_pool_t, s: &[u8]) -> Option<ngx_str_t> {
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

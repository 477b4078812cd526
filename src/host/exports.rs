//! The proxy-wasm ABI 0.2.1 entry points. Each looks up its context in one table, takes what
//! it needs out of it and calls the VM with the table released, so a host that calls back
//! into the module from inside a hostcall (a local response running the response callbacks)
//! finds nothing borrowed. A context the table does not know never panics: a request is
//! refused, anything else is ignored.

use jwtgate_core::id_map::IdMap;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::time::Duration;

use super::abi::{self, BufferType, LogLevel};
use super::adapter::ProxyWasm;
use jwtgate_core::engine::Engine;
use jwtgate_core::port::HostPort;
use jwtgate_core::{Gateway, LocalResponse, Rejection};

/// Remote JWKS are prefetched, refreshed and retried, and overdue calls given up, from this
/// timer.
const TICK: Duration = Duration::from_secs(1);

const CONTINUE: u32 = 0;
const PAUSE: u32 = 1;

/// One plugin's root context: its configuration, once `on_configure` ran.
struct Root {
    vm: Option<Rc<RefCell<Engine>>>,
}

#[derive(Default)]
struct Contexts {
    roots: IdMap<Root>,
    /// Request context → its root context.
    requests: IdMap<u32>,
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

/// The VM serving `context_id` (a root, or a request of one), if configured.
fn vm_of(context_id: u32) -> Lookup {
    CONTEXTS.with(|c| {
        let Ok(contexts) = c.try_borrow() else {
            return Lookup::Unknown;
        };
        let root_id = contexts
            .requests
            .get(&context_id)
            .copied()
            .unwrap_or(context_id);
        match contexts.roots.get(&root_id) {
            Some(Root { vm: Some(vm), .. }) => Lookup::Ready(Rc::clone(vm), root_id),
            Some(_) => Lookup::NotServing,
            None => Lookup::Unknown,
        }
    })
}

/// A callback arrived while the engine was already running one (a host calling back into the
/// module from inside a hostcall; none of the supported hosts does). Never silent: logged, and
/// a request is answered 500 rather than decided without the engine.
fn busy(context_id: u32, request: bool) -> u32 {
    abi::log(
        LogLevel::Critical,
        &format!(
            "jwtgate: a host callback for context {context_id} arrived while the engine was busy"
        ),
    );
    if request {
        answer_without_engine(Rejection::HostError);
    }
    PAUSE
}

/// Answers the current request 500 when no engine can decide it.
fn answer_without_engine(rejection: Rejection) {
    let response = LocalResponse::for_rejection(rejection, "jwtgate");
    if let Err(status) = ProxyWasm::default().respond(&response) {
        abi::log(
            LogLevel::Error,
            &format!("jwtgate: the host refused the local response ({status})"),
        );
    }
}

enum Lookup {
    Ready(Rc<RefCell<Engine>>, u32),
    /// Configuration missing or invalid.
    NotServing,
    /// A context this module never saw created.
    Unknown,
}

/// The host's allocator for buffers it returns to us (`abi::take` frees them as `Vec<u8>`).
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: MaybeUninit needs no initialisation; capacity is `size`.
    unsafe { buffer.set_len(size) };
    Box::into_raw(buffer.into_boxed_slice()).cast::<u8>()
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// WASI reactor start: static constructors only.
#[no_mangle]
pub extern "C" fn _initialize() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the reactor's constructor function, called once by the host before anything.
    unsafe { __wasm_call_ctors() };
    std::panic::set_hook(Box::new(|info| {
        // Nothing here should panic; if something does, leave the reason in the proxy log.
        abi::log(LogLevel::Critical, &format!("jwtgate: panic: {info}"));
    }));
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, root_context_id: u32) {
    CONTEXTS.with(|c| {
        let Ok(mut contexts) = c.try_borrow_mut() else {
            return;
        };
        if root_context_id == 0 {
            contexts.roots.insert(context_id, Root { vm: None });
        } else {
            contexts.requests.insert(context_id, root_context_id);
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_context_id: u32, _vm_configuration_size: usize) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, configuration_size: usize) -> bool {
    let bytes = match abi::buffer(BufferType::PluginConfiguration, configuration_size) {
        Ok(bytes) => bytes.unwrap_or_default(),
        Err(status) => {
            abi::log(
                LogLevel::Error,
                &format!("jwtgate: the host refused the plugin configuration ({status}); every request will be answered 500"),
            );
            Vec::new()
        }
    };
    let configured = match Gateway::from_json(&bytes) {
        Ok(gateway) => {
            for warning in gateway.warnings() {
                abi::log(
                    LogLevel::Warn,
                    &format!("jwtgate: configuration: {warning}"),
                );
            }
            abi::log(LogLevel::Info, "jwtgate: configuration loaded");
            Some(gateway)
        }
        Err(error) => {
            abi::log(
                LogLevel::Error,
                &format!(
                    "jwtgate: invalid configuration: {error}; every request will be answered 500"
                ),
            );
            None
        }
    };
    CONTEXTS.with(|c| {
        let Ok(mut contexts) = c.try_borrow_mut() else {
            return;
        };
        let root = contexts
            .roots
            .entry(context_id)
            .or_insert(Root { vm: None });
        let engine = configured.map(|gateway| {
            let now = abi::now_ms().unwrap_or(0);
            // Jitter seed for retries and this worker's id in shared fetch claims: differs per
            // worker (time, context, and std's per-VM random hash keys: workers may get the same
            // root context id and configure in the same millisecond).
            let random = {
                use std::hash::{BuildHasher, Hasher};
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish()
            };
            let seed = now ^ (u64::from(context_id) << 32) ^ 0x5eed ^ random;
            let host = ProxyWasm::new(gateway.reads_peer_certificate());
            Engine::new(gateway, Box::new(host), seed)
        });
        if let Some(vm) = &engine {
            // The first tick prefetches every remote JWKS; ticks also give up calls that
            // outlived their timeout.
            if vm.needs_timer() && abi::set_tick_period(TICK).is_err() {
                abi::log(
                    LogLevel::Warn,
                    "jwtgate: no timer on this host; JWKS are fetched by requests only",
                );
            }
        }
        root.vm = engine.map(|engine| Rc::new(RefCell::new(engine)));
    });
    // False would kill an ngx_wasm_module worker (clients hang): refuse requests instead.
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    _headers: usize,
    _end_of_stream: bool,
) -> u32 {
    match vm_of(context_id) {
        Lookup::Ready(vm, _) => {
            let Ok(mut vm) = vm.try_borrow_mut() else {
                return busy(context_id, true);
            };
            match abi::now_ms() {
                Ok(now) if vm.on_request(context_id, now) => CONTINUE,
                Ok(_) => PAUSE,
                Err(status) => {
                    // Without the host's time no `exp` can be checked: refuse.
                    abi::log(
                        LogLevel::Error,
                        &format!("jwtgate: the host refused the current time ({status})"),
                    );
                    vm.respond(&LocalResponse::for_rejection(
                        Rejection::HostError,
                        vm.gateway.realm(),
                    ));
                    PAUSE
                }
            }
        }
        Lookup::NotServing | Lookup::Unknown => {
            answer_without_engine(Rejection::ConfigInvalid);
            PAUSE
        }
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    _headers: usize,
    body_size: usize,
    _trailers: usize,
) {
    if let Lookup::Ready(vm, _) = vm_of(context_id) {
        match vm.try_borrow_mut() {
            Ok(mut vm) => vm.on_call_response(token, body_size, context_id),
            Err(_) => {
                busy(context_id, false);
            }
        }
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    if let Lookup::Ready(vm, root_id) = vm_of(context_id) {
        match (vm.try_borrow_mut(), abi::now_ms()) {
            (Ok(mut vm), Ok(now)) => vm.on_tick(root_id, now),
            (Err(_), _) => {
                busy(context_id, false);
            }
            (Ok(_), Err(_)) => {}
        }
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_done(_context_id: u32) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_log(_context_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    if let Lookup::Ready(vm, root_id) = vm_of(context_id) {
        if root_id != context_id {
            match vm.try_borrow_mut() {
                Ok(mut vm) => vm.forget_context(context_id),
                Err(_) => {
                    busy(context_id, false);
                }
            }
        }
    }
    CONTEXTS.with(|c| {
        if let Ok(mut contexts) = c.try_borrow_mut() {
            if contexts.requests.remove(&context_id).is_none() {
                contexts.roots.remove(&context_id);
            }
        }
    });
}

// The rest of the ABI: nothing to do for a request-headers filter, and every host finds the
// export it looks for.

#[no_mangle]
pub extern "C" fn proxy_on_request_body(_: u32, _: usize, _: bool) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(_: u32, _: usize) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_: u32, _: usize, _: bool) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(_: u32, _: usize, _: bool) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(_: u32, _: usize) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_queue_ready(_: u32, _: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_new_connection(_: u32) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_downstream_data(_: u32, _: usize, _: bool) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_upstream_data(_: u32, _: usize, _: bool) -> u32 {
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_downstream_connection_close(_: u32, _: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_upstream_connection_close(_: u32, _: u32) {}

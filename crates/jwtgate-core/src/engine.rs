//! The engine: one configured worker (VM) — the gateway, its token cache and fetched key sets,
//! the JWKS fetches and auth calls in flight, the requests paused until keys or answers
//! arrive, and the deadlines of every call. Events come in as method calls (a request arrived,
//! a call was answered, the timer ticked, a request is gone); everything it does to the proxy
//! goes through [`HostPort`], so the same engine runs behind proxy-wasm (`src/host`) and in
//! native tests with a scripted host (`tests/engine.rs` in this crate).
//!
//! A request is always run as the host's *current* request ([`HostPort::select`]), so one
//! function serves a request's own arrival and a paused request woken later from another
//! request's call answer or from the timer.

use std::rc::Rc;

use super::ext_auth::{ExtAnswer, ExtFailure};
use super::gateway::Recycled;
use super::id_map::IdMap;
use super::introspection::{token_key, Answer, Failure, Introspected, MAX_ANSWER_BYTES};
use super::metrics::Counters;
use super::port::{apply_all, HostError, HostPort, LogLevel, RawHeader};
use super::remote_jwks::{
    decode_shared, encode_shared, Availability, FetchFailure, FetchReason, RemoteJwks,
};
use super::request::{header_text, path_text_into};
use super::vm_state::VmState;
use super::{Decision, Gateway, HeaderOp, LocalResponse, Rejection, Request, Verdict};

/// The auth answers one request has received: (service, answer).
type Answers = Vec<(usize, Rc<ExtAnswer>)>;

/// A paused request: its context, since when it waits, and for which providers' keys (or
/// which token's introspection call, by key).
struct Waiter {
    context_id: u32,
    since_ms: u64,
    providers: Vec<usize>,
    introspection: Option<[u8; 32]>,
}

/// An introspection call in flight: one per distinct token (per provider); the requests that
/// wait for it share its answer.
struct IntroCall {
    provider: usize,
    key: [u8; 32],
    /// The context that dispatched it (the host cancels the call when that request ends).
    owner: u32,
    started_ms: u64,
    /// Every request waiting for the answer, the owner first.
    contexts: Vec<u32>,
}

/// Introspection outcomes delivered to one paused request: (provider, token key, outcome).
type Delivered = Vec<(usize, [u8; 32], Rc<Introspected>)>;

/// What running a request did.
pub enum Ran {
    /// Headers changed; the request may go upstream.
    Forward,
    /// A local response was sent.
    Responded,
    /// Keys of these providers are being fetched: the request must stay paused.
    Wait(Vec<usize>),
    /// Auth service `service` must be asked with these headers: the request must pause.
    Ask(usize, Vec<(String, String)>),
    /// Provider `provider`'s introspection endpoint must be asked about this token.
    Introspect(usize, super::introspection::Secret),
}

/// What `ensure_fetch` achieved.
#[derive(PartialEq, Eq)]
enum Fetch {
    /// A fetch is running (just dispatched, or already).
    Running,
    /// The state changed without waiting (a shared copy adopted, or the dispatch refused):
    /// deciding again gives a new answer.
    Settled,
    /// (internal) a fetch should start for this reason.
    Start(FetchReason),
}

pub struct Engine {
    /// Shared (`Rc`) so a method can hold a provider's or service's configuration while it
    /// changes the engine's state.
    pub gateway: Rc<Gateway>,
    /// Verified tokens, fetched key sets, cached auth answers.
    state: VmState,
    waiters: Vec<Waiter>,
    /// Callout token → (provider, context that dispatched it, dispatch time).
    fetches: Calls,
    /// Callout token → (auth service, request context, dispatch time).
    ext_calls: Calls,
    /// The fetches (by token) that read a provider's OpenID configuration document, and why
    /// the key set is wanted (the JWKS fetch that follows keeps the reason).
    documents: IdMap<FetchReason>,
    /// Fetches requests asked for, for the next tick to start (`on_keys_loading: retry_after`).
    scheduled: Vec<(usize, FetchReason)>,
    /// Auth answers each paused request has received, by context.
    answers: IdMap<Answers>,
    /// Introspection calls in flight, by callout token.
    intro_calls: IdMap<IntroCall>,
    /// Introspection outcomes each paused request has received, by context (failures are
    /// never cached: a request learns of the call it waited for here).
    intro_answers: IdMap<Delivered>,
    host: Box<dyn HostPort>,
    /// A paused request is answered without waiting any longer after this.
    max_wait_ms: u64,
    /// The per-request counters, defined with the host once (`Engine::new`).
    counters: Counters,
    /// A request's log line is formatted here (its capacity is kept between requests).
    line: String,
    /// The request being decided, read here (its buffers are kept between requests).
    read: ReadRequest,
    /// What earlier verdicts left: the next ones are written over it (capacity reused).
    recycled: Recycled,
    /// Names this worker in the shared fetch claims (`share_jwks`).
    worker_id: u64,
}

/// The current request as the core reads it: method, `:path`, headers. The engine keeps one
/// and reads every request into it: method and path reuse their capacity, and each header's
/// strings go back to bytes (no copy) for the host to write the next request's pairs over.
#[derive(Default)]
struct ReadRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// Byte buffers for the host to write pairs over ([`HostPort::request_headers_into`]):
    /// the pairs it wrote become `headers`; those it did not are kept for later requests.
    raw: Vec<RawHeader>,
}

/// Reads the current request into `read`. Header bytes above 0x7F (obs-text) are decoded
/// lossily: a token carrying them fails verification, any other header is only compared.
/// `:path` keeps them as `%XX` (NGINX hands over a decoded path), so rules match bytes.
fn read_request(host: &dyn HostPort, read: &mut ReadRequest) -> Result<(), HostError> {
    // The last request's strings go back to bytes, in their places before the leftovers: the
    // host writes each pair over the buffers of the pair at its place last time. What is kept
    // is bounded (KEPT_HEADER_BYTES): an outsized request's buffers are freed, not held.
    let raw = &mut read.raw;
    let leftovers = raw.len();
    let mut budget = KEPT_HEADER_BYTES.saturating_sub(raw.iter().map(pair_capacity).sum());
    raw.extend(
        read.headers
            .drain(..)
            .map(|(name, value)| (name.into_bytes(), value.into_bytes()))
            .filter(|pair| {
                let size = pair_capacity(pair);
                let keep = size <= budget;
                if keep {
                    budget -= size;
                }
                keep
            }),
    );
    raw.rotate_left(leftovers);
    let written = host.request_headers_into(raw)?.min(raw.len());
    let raw = read.raw.get(..written).unwrap_or(&[]);
    // In the list (Envoy, most hosts): read in place, no copy.
    let listed = |name: &str| {
        raw.iter()
            .find(|(n, _)| n.as_slice() == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    };
    read.path.clear();
    match listed(":path") {
        Some(p) => path_text_into(p, &mut read.path),
        None => match host.request_pseudo(":path", "path")? {
            Some(p) => path_text_into(&p, &mut read.path),
            None => read.path.push('/'),
        },
    }
    read.method.clear();
    match listed(":method") {
        Some(m) => read.method.push_str(&String::from_utf8_lossy(m)),
        None => {
            if let Some(m) = host.request_pseudo(":method", "method")? {
                read.method.push_str(&String::from_utf8_lossy(&m));
            }
        }
    }
    // Each pair's bytes become its strings in place (no copy when they are UTF-8).
    read.headers
        .extend(read.raw.drain(..written).map(lossy_pair));
    Ok(())
}

/// Most bytes of header buffers the engine keeps between requests (64 KiB, a little above
/// Envoy's default limit on a request's headers, 60 KiB).
const KEPT_HEADER_BYTES: usize = 64 * 1024;

fn pair_capacity((name, value): &RawHeader) -> usize {
    name.capacity().saturating_add(value.capacity())
}

fn lossy_pair((name, value): RawHeader) -> (String, String) {
    (header_text(name), header_text(value))
}

/// Calls in flight: token → (provider or service, context that dispatched it, dispatch time).
type Calls = IdMap<(usize, u32, u64)>;

/// Removes the calls whose timeout (by provider or service) has passed and returns their
/// (provider or service, context).
fn take_overdue(
    calls: &mut Calls,
    now_ms: u64,
    timeout_ms: impl Fn(usize) -> u64,
) -> Vec<(usize, u32)> {
    let overdue: Vec<u32> = calls
        .iter()
        .filter(|(_, (of, _, at))| now_ms >= at.saturating_add(timeout_ms(*of)))
        .map(|(token, _)| *token)
        .collect();
    overdue
        .iter()
        .filter_map(|t| calls.remove(t).map(|(of, ctx, _)| (of, ctx)))
        .collect()
}

/// A fetch claim's value: until when (ms) and by which worker.
fn parse_lease(value: &[u8]) -> (u64, Option<u64>) {
    let text = std::str::from_utf8(value).unwrap_or("");
    let mut parts = text.split(' ');
    let until = parts.next().and_then(|u| u.parse().ok()).unwrap_or(0);
    let owner = parts.next().and_then(|o| u64::from_str_radix(o, 16).ok());
    (until, owner)
}

impl Engine {
    pub fn new(gateway: Gateway, host: Box<dyn HostPort>, seed: u64) -> Engine {
        let max_wait_ms = gateway
            .remote_providers()
            .map(|(_, _, r)| r.endpoint.timeout_ms)
            .chain(gateway.ext_services().iter().map(|s| s.endpoint.timeout_ms))
            .chain(
                gateway
                    .introspection_providers()
                    .map(|(_, _, i)| i.endpoint.timeout_ms),
            )
            .max()
            .unwrap_or(0)
            .saturating_add(2_000);
        let counters = Counters::new(&gateway);
        host.define_counters(counters.names());
        Engine {
            counters,
            line: String::new(),
            read: ReadRequest::default(),
            recycled: Recycled::default(),
            state: gateway.new_vm_state(seed),
            waiters: Vec::new(),
            fetches: IdMap::default(),
            documents: IdMap::default(),
            ext_calls: IdMap::default(),
            answers: IdMap::default(),
            intro_calls: IdMap::default(),
            intro_answers: IdMap::default(),
            scheduled: Vec::new(),
            host,
            max_wait_ms,
            worker_id: seed,
            gateway: Rc::new(gateway),
        }
    }

    /// Names this worker in shared fetch claims: hosts whose workers share one seed (NGINX
    /// workers forked from one master) give each its own id (the process id).
    pub fn set_worker_id(&mut self, id: u64) {
        self.worker_id = id;
    }

    /// Whether the VM needs the timer: remote JWKS to fetch, or callouts whose lost answers
    /// must not leave requests paused.
    pub fn needs_timer(&self) -> bool {
        self.gateway.remote_providers().next().is_some()
            || !self.gateway.ext_services().is_empty()
            || self.gateway.introspection_providers().next().is_some()
    }

    fn count(&self, name: &str) {
        self.host
            .count(&format!("{}.{name}", self.gateway.stat_prefix()));
    }

    /// The verdict's log line, formatted (into a buffer kept between requests) only when the
    /// host keeps lines at `level`.
    fn log_verdict(&mut self, level: LogLevel, verdict: &Verdict, method: &str, path: &str) {
        if !self.host.logs(level) {
            return;
        }
        self.line.clear();
        verdict.write_log_line(&mut self.line, method, path);
        self.host.log(level, &self.line);
    }

    /// Answers the effective context's request with `rejection`.
    fn refuse(&self, rejection: Rejection) {
        self.respond(&LocalResponse::for_rejection(
            rejection,
            self.gateway.realm(),
        ));
    }

    /// Lets the effective context's paused request go on. A host that refuses leaves it paused
    /// (never forwarded); it is answered 500 instead if the host allows that.
    fn resume(&self) {
        if let Err(status) = self.host.resume() {
            self.host.log(
                LogLevel::Error,
                &format!("jwtgate: the host refused to resume a request ({status})"),
            );
            self.refuse(Rejection::HostError);
        }
    }

    /// Decides the request of the effective context and applies the decision (header changes
    /// or a local response). `may_wait`: a token whose keys are being fetched may pause.
    pub fn run(&mut self, context_id: u32, now_ms: u64, may_wait: bool) -> Ran {
        let mut read = std::mem::take(&mut self.read);
        let ran = match read_request(self.host.as_ref(), &mut read) {
            Ok(()) => self.decide_read(&read, context_id, now_ms, may_wait),
            Err(status) => {
                self.host.log(
                    LogLevel::Error,
                    &format!("jwtgate: the host refused the request headers ({status})"),
                );
                self.refuse(Rejection::HostError);
                Ran::Responded
            }
        };
        self.read = read;
        ran
    }

    /// [`Engine::run`] once the request is read.
    fn decide_read(
        &mut self,
        read: &ReadRequest,
        context_id: u32,
        now_ms: u64,
        may_wait: bool,
    ) -> Ran {
        let (method, path) = (read.method.as_str(), read.path.as_str());
        let request = Request {
            method,
            path,
            headers: &read.headers,
        };
        let answers = self.answers.get(&context_id).cloned().unwrap_or_default();
        self.state.introspection.delivered = self
            .intro_answers
            .get(&context_id)
            .cloned()
            .unwrap_or_default();
        // Written over what earlier verdicts left (their lists and strings reused).
        let mut verdict = self.gateway.decide_recycling(
            &request,
            now_ms,
            &mut self.state,
            &answers,
            may_wait,
            &mut self.recycled,
        );
        self.state.introspection.delivered.clear();
        let host = self.host.as_ref();
        self.counters
            .of_verdict(&verdict, |id, name| host.count_id(id, name));
        if matches!(
            verdict.decision,
            Decision::Forward(_) | Decision::Respond(_)
        ) {
            self.host.decided(&verdict);
        }
        let ran = match verdict.decision {
            Decision::WaitForKeys(ref mut providers) => Ran::Wait(std::mem::take(providers)),
            Decision::AskExtAuth {
                service,
                ref mut headers,
            } => Ran::Ask(service, std::mem::take(headers)),
            Decision::Introspect {
                provider,
                ref mut token,
            } => Ran::Introspect(
                provider,
                super::introspection::Secret(std::mem::take(&mut token.0)),
            ),
            Decision::Forward(ref ops) => self.forward(&verdict, ops, read),
            Decision::Respond(ref response) => {
                self.log_verdict(LogLevel::Info, &verdict, method, path);
                self.respond(response);
                Ran::Responded
            }
        };
        self.recycled.keep(verdict);
        ran
    }

    /// Applies an allowing verdict's header changes `ops` to the current request `read`.
    fn forward(&mut self, verdict: &Verdict, ops: &[HeaderOp], read: &ReadRequest) -> Ran {
        // Dry-run refusals are reported like denials; passes only at debug.
        // An unverified pass (`allow_unverified`) is always reported.
        let level = if verdict.unverified {
            LogLevel::Warn
        } else if verdict.dry_run {
            LogLevel::Info
        } else {
            LogLevel::Debug
        };
        if verdict.rule.is_some() {
            self.log_verdict(level, verdict, &read.method, &read.path);
        }
        if let Err(status) = apply_all(self.host.as_ref(), ops, &read.headers) {
            // A spoofed header we cannot remove must not reach the upstream.
            self.host.log(
                LogLevel::Error,
                &format!("jwtgate: the host refused a header change ({status})"),
            );
            self.refuse(Rejection::HostError);
            return Ran::Responded;
        }
        Ran::Forward
    }

    /// `on_http_request_headers`: decide, starting fetches and pausing when keys are loading.
    /// Returns true when the request may continue.
    pub fn on_request(&mut self, context_id: u32, now_ms: u64) -> bool {
        self.settle(context_id, now_ms)
    }

    /// `on_http_call_response` of any context: an auth answer (the request is decided again), or
    /// a JWKS fetch (then every waiting request is decided again). `current`: the context the
    /// answer came to.
    pub fn on_call_response(&mut self, token: u32, body_size: usize, current: u32) {
        // Without the host's time nothing can be decided (requests are refused 500 then).
        let Ok(now) = self.host.now_ms() else {
            return;
        };
        if self.on_ext_response(token, body_size, current, now) {
            return;
        }
        if self.on_intro_response(token, body_size, current, now) {
            return;
        }
        if self.on_fetch_response(token, body_size, now, current) {
            self.wake(current, now, false);
        }
    }

    /// Decides request `context_id` (the effective context) until it is answered, parked among
    /// the waiters (keys loading, an auth callout out), or allowed: true means forward it.
    /// A shared copy or a refused dispatch settles a wait at once, so it decides again
    /// (bounded); if it cannot park, the last decision is made without waiting.
    fn settle(&mut self, context_id: u32, now_ms: u64) -> bool {
        for _ in 0..4 {
            match self.run(context_id, now_ms, true) {
                Ran::Forward => return true,
                Ran::Responded => return false,
                Ran::Ask(service, headers) => {
                    if self.ask(service, &headers, context_id, now_ms) {
                        return false;
                    }
                }
                Ran::Introspect(provider, token) => {
                    if self.introspect(provider, &token.0, context_id, now_ms) {
                        return false;
                    }
                }
                Ran::Wait(providers) => {
                    let settled = providers
                        .iter()
                        .map(|&p| self.ensure_fetch(p, now_ms, context_id))
                        .fold(false, |any, f| any | (f == Fetch::Settled));
                    if !settled && self.gateway.retry_while_keys_load() {
                        // No request waits or owns a call: the timer fetches, the client retries.
                        self.count("keys_loading_retry_after");
                        self.host.log(
                            LogLevel::Info,
                            "jwtgate: deny: keys_loading (503, Retry-After: 1; on_keys_loading: retry_after)",
                        );
                        self.respond(&LocalResponse::keys_loading_retry_after());
                        return false;
                    }
                    if !settled {
                        self.host.log(
                            LogLevel::Debug,
                            "jwtgate: request paused until remote JWKS keys arrive",
                        );
                        self.waiters.push(Waiter {
                            context_id,
                            since_ms: now_ms,
                            providers,
                            introspection: None,
                        });
                        return false;
                    }
                }
            }
        }
        matches!(self.run(context_id, now_ms, false), Ran::Forward)
    }

    /// Dispatches a callout to auth service `service` for request `context_id` (the
    /// effective context). True: the request waits for it; false: the dispatch was refused
    /// and recorded as that service's (failed) answer, so deciding again gives the result.
    fn ask(
        &mut self,
        service: usize,
        headers: &[(String, String)],
        context_id: u32,
        now_ms: u64,
    ) -> bool {
        let gateway = Rc::clone(&self.gateway);
        let Some(s) = gateway.ext_services().get(service) else {
            return false;
        };
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let dispatched =
            self.host
                .dispatch(&s.endpoint.upstream, &pairs, &[], s.endpoint.timeout_ms);
        self.count(&format!("ext_auth.{}.callouts", s.name));
        match dispatched {
            Ok(token) => {
                self.ext_calls.insert(token, (service, context_id, now_ms));
                self.waiters.push(Waiter {
                    context_id,
                    since_ms: now_ms,
                    providers: Vec::new(),
                    introspection: None,
                });
                true
            }
            Err(status) => {
                self.host.log(LogLevel::Warn,
                    &format!(
                        "jwtgate: ext_auth {} callout refused by the host ({status}); check cluster/upstream `{}`",
                        s.name, s.endpoint.upstream
                    ),
                );
                self.record_answer(
                    service,
                    context_id,
                    ExtAnswer::Failed(ExtFailure::DispatchRefused),
                );
                false
            }
        }
    }

    /// Asks provider `provider`'s introspection endpoint about `token` for request
    /// `context_id` (the effective context), or joins the call already asking about it. True:
    /// the request waits for the answer; false: the dispatch was refused and recorded as a
    /// failed answer, so deciding again gives the result.
    fn introspect(&mut self, provider: usize, token: &str, context_id: u32, now_ms: u64) -> bool {
        let gateway = Rc::clone(&self.gateway);
        let Some((_, name, intro)) = gateway
            .introspection_providers()
            .find(|(i, _, _)| *i == provider)
        else {
            return false;
        };
        let key = token_key(provider, token);
        // One call per distinct token: later requests wait for the same answer. (A host that
        // cannot act on another request from this one's callback gets a call per request.)
        if gateway.wake_other_requests() {
            if let Some(call) = self
                .intro_calls
                .values_mut()
                .find(|c| c.provider == provider && c.key == key)
            {
                if !call.contexts.contains(&context_id) {
                    call.contexts.push(context_id);
                }
                self.waiters.push(Waiter {
                    context_id,
                    since_ms: now_ms,
                    providers: Vec::new(),
                    introspection: Some(key),
                });
                self.count(&format!("introspection.{name}.joined"));
                return true;
            }
        }
        let (headers, body) = intro.request(token);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let dispatched = self.host.dispatch(
            &intro.endpoint.upstream,
            &pairs,
            &body,
            intro.endpoint.timeout_ms,
        );
        self.count(&format!("introspection.{name}.calls"));
        match dispatched {
            Ok(call) => {
                self.intro_calls.insert(
                    call,
                    IntroCall {
                        provider,
                        key,
                        owner: context_id,
                        started_ms: now_ms,
                        contexts: vec![context_id],
                    },
                );
                self.waiters.push(Waiter {
                    context_id,
                    since_ms: now_ms,
                    providers: Vec::new(),
                    introspection: Some(key),
                });
                true
            }
            Err(status) => {
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "jwtgate: introspection for provider {name} refused by the host ({status}); check cluster/upstream `{}`",
                        intro.endpoint.upstream
                    ),
                );
                self.introspection_failed(provider, name, Failure::DispatchRefused);
                let outcome = Rc::new(Err(crate::Rejection::IntrospectionError));
                self.intro_answers
                    .entry(context_id)
                    .or_default()
                    .push((provider, key, outcome));
                false
            }
        }
    }

    fn introspection_failed(&self, _provider: usize, name: &str, failure: Failure) {
        self.count(&format!("introspection.{name}.errors"));
        self.count(&format!("introspection.{name}.errors.{}", failure.name()));
    }

    /// An answer to an introspection call: classify, cache (when it may be), deliver it to
    /// every request waiting for it and decide them again. False for another callout.
    fn on_intro_response(
        &mut self,
        token: u32,
        body_size: usize,
        current: u32,
        now_ms: u64,
    ) -> bool {
        let Some(call) = self.intro_calls.remove(&token) else {
            return false;
        };
        let gateway = Rc::clone(&self.gateway);
        let Some((_, name, intro)) = gateway
            .introspection_providers()
            .find(|(i, _, _)| *i == call.provider)
        else {
            return true;
        };
        let status = self
            .host
            .answer_header(":status")
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        // Read only a body within bounds, and only whole.
        let body = if body_size <= MAX_ANSWER_BYTES {
            match self.host.answer_body(body_size) {
                Ok(Some(body)) if body.len() == body_size => Some(body),
                Ok(None) if body_size == 0 => Some(Vec::new()),
                _ => None,
            }
        } else {
            None
        };
        let mut answer = intro.answer(status.as_deref(), body.as_deref());
        if now_ms >= call.started_ms.saturating_add(intro.endpoint.timeout_ms) {
            // A total deadline, as for auth calls (some hosts time out per read only).
            answer = Answer::Failed(Failure::NoResponse);
        }
        self.host.histogram(
            &format!(
                "{}.introspection.{name}.latency_ms",
                self.gateway.stat_prefix()
            ),
            now_ms.saturating_sub(call.started_ms),
        );
        match &answer {
            Answer::Active(..) => self.count(&format!("introspection.{name}.active")),
            Answer::Inactive => self.count(&format!("introspection.{name}.inactive")),
            Answer::Failed(failure) => {
                // Never the token, never the answer's body.
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "jwtgate: introspection for provider {name} from {} failed: {} (status {})",
                        intro.endpoint.uri,
                        failure.name(),
                        status.as_deref().unwrap_or("none")
                    ),
                );
                self.introspection_failed(call.provider, name, *failure);
            }
        }
        let outcome = gateway.remember_introspection(
            &mut self.state,
            call.provider,
            call.key,
            answer,
            now_ms,
        );
        self.deliver(&call, outcome, current, now_ms);
        true
    }

    /// Gives `outcome` to every request waiting for `call` and decides each again in its own
    /// context; `current` is made effective again afterwards.
    fn deliver(&mut self, call: &IntroCall, outcome: Rc<Introspected>, current: u32, now_ms: u64) {
        for &context_id in &call.contexts {
            self.intro_answers.entry(context_id).or_default().push((
                call.provider,
                call.key,
                Rc::clone(&outcome),
            ));
        }
        self.waiters
            .retain(|w| !call.contexts.contains(&w.context_id));
        for &context_id in &call.contexts {
            if self.host.select(context_id).is_ok() {
                self.resume_or_answer(context_id, now_ms);
            }
        }
        self.host.select(current).ok();
    }

    /// Whether an introspection call for token key `key` is out.
    fn introspecting(&self, key: &[u8; 32]) -> bool {
        self.intro_calls.values().any(|c| &c.key == key)
    }

    fn record_answer(&mut self, service: usize, context_id: u32, answer: ExtAnswer) {
        let Some(s) = self.gateway.ext_services().get(service) else {
            return;
        };
        match &answer {
            ExtAnswer::Allowed(_) => self.count(&format!("ext_auth.{}.allowed", s.name)),
            ExtAnswer::Denied(..) => self.count(&format!("ext_auth.{}.denied", s.name)),
            ExtAnswer::Failed(kind) => {
                self.count(&format!("ext_auth.{}.errors", s.name));
                self.count(&format!("ext_auth.{}.errors.{}", s.name, kind.name()));
            }
        }
        self.answers
            .entry(context_id)
            .or_default()
            .push((service, Rc::new(answer)));
    }

    /// An answer to an auth callout: record (and cache) it, then decide the request again in
    /// its own context. Returns false for a callout that is not an auth call.
    fn on_ext_response(&mut self, token: u32, body_size: usize, current: u32, now_ms: u64) -> bool {
        let _ = body_size; // never read: auth_request semantics use status and headers only
        let Some((service, context_id, started)) = self.ext_calls.remove(&token) else {
            return false;
        };
        let gateway = Rc::clone(&self.gateway);
        let Some(s) = gateway.ext_services().get(service) else {
            return true;
        };
        // A refused read is an answer without status: the service failed.
        let raw = self.host.answer_headers().unwrap_or_default();
        let headers: Vec<(String, String)> = raw.into_iter().map(lossy_pair).collect();
        let status = headers
            .iter()
            .find(|(n, _)| n == ":status")
            .map(|(_, v)| v.clone());
        let mut answer = s.answer(status.as_deref(), &headers);
        if now_ms >= started.saturating_add(s.endpoint.timeout_ms) {
            // The timeout is a total deadline even where the host only times out per read
            // (ngx_wasm_module: an answer that drips bytes ends whenever it ends). Decided here,
            // in the request's own callback, which every host supports.
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "jwtgate: ext_auth {} failed: answered after its timeout ({} ms)",
                    s.name,
                    now_ms.saturating_sub(started)
                ),
            );
            answer = ExtAnswer::Failed(ExtFailure::NoResponse);
        }
        // A byte the lossy decoding replaced would go on altered: an allowing answer fails
        // (never forwarded with a changed identity); a refusal stays a refusal without the
        // header (the client gets no rewritten challenge).
        let altered = |(_, v): &(String, String)| v.contains(char::REPLACEMENT_CHARACTER);
        match &mut answer {
            ExtAnswer::Allowed(upstream) if upstream.iter().any(altered) => {
                answer = ExtAnswer::Failed(ExtFailure::BadAnswer);
            }
            ExtAnswer::Denied(_, client) => client.retain(|h| !altered(h)),
            _ => {}
        }
        self.host.histogram(
            &format!(
                "{}.ext_auth.{}.latency_ms",
                self.gateway.stat_prefix(),
                s.name
            ),
            now_ms.saturating_sub(started),
        );
        if let ExtAnswer::Failed(kind) = &answer {
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "jwtgate: ext_auth {} failed: {} (status {})",
                    s.name,
                    kind.name(),
                    status.as_deref().unwrap_or("none")
                ),
            );
        }
        // Cache allow/deny answers (never failures), keyed by method, path and credentials.
        if s.ttl_ms(&answer).is_some() {
            let mut read = ReadRequest::default();
            let read = self
                .host
                .select(context_id)
                .ok()
                .and_then(|()| read_request(self.host.as_ref(), &mut read).ok())
                .map(|()| read);
            if let Some(read) = read {
                let req = Request {
                    method: &read.method,
                    path: &read.path,
                    headers: &read.headers,
                };
                gateway.remember_ext_answer(&mut self.state, service, &req, &answer, now_ms);
            }
        }
        self.record_answer(service, context_id, answer);
        self.waiters.retain(|w| w.context_id != context_id);
        // Decide the request again in its own context (the SDK made the dispatching context
        // effective; normally that is the request itself).
        if self.host.select(context_id).is_ok() {
            self.resume_or_answer(context_id, now_ms);
        }
        self.host.select(current).ok();
        true
    }

    /// Runs a paused request (the effective context) again and resumes, answers, or keeps it
    /// waiting.
    fn resume_or_answer(&mut self, context_id: u32, now_ms: u64) {
        if self.settle(context_id, now_ms) {
            self.resume();
        }
    }

    /// Decides every paused request again (after a fetch ended, or from the tick), resuming
    /// or answering those that need not wait any more. `current` is the running callback's
    /// context, made effective again afterwards. `all`: wake every waiter; otherwise only
    /// those whose providers have no fetch running or who waited too long.
    pub fn wake(&mut self, current: u32, now_ms: u64, all: bool) {
        for _ in 0..3 {
            let waiters = std::mem::take(&mut self.waiters);
            if waiters.is_empty() {
                return;
            }
            let mut kept = Vec::new();
            let mut wanted = Vec::new();
            for waiter in waiters {
                if waiter.context_id != current && !self.gateway.wake_other_requests() {
                    // The host acts only on the context whose callback runs (ngx_wasm_module):
                    // another request is left to its own callbacks.
                    kept.push(waiter);
                    continue;
                }
                let overdue = now_ms >= waiter.since_ms.saturating_add(self.max_wait_ms);
                let call_out = waiter
                    .introspection
                    .as_ref()
                    .is_none_or(|key| self.introspecting(key));
                if !all
                    && !overdue
                    && call_out
                    && waiter.providers.iter().all(|&p| self.fetching(p, now_ms))
                {
                    kept.push(waiter);
                    continue;
                }
                if self.host.select(waiter.context_id).is_err() {
                    continue; // the request is gone
                }
                if overdue {
                    // A late answer must not decide this request a second time.
                    self.ext_calls
                        .retain(|_, (_, ctx, _)| *ctx != waiter.context_id);
                    for call in self.intro_calls.values_mut() {
                        call.contexts.retain(|&c| c != waiter.context_id);
                    }
                }
                match self.run(waiter.context_id, now_ms, !overdue) {
                    Ran::Forward => {
                        self.resume();
                    }
                    Ran::Responded => {}
                    Ran::Ask(service, headers) => {
                        // Asked from here: the callout belongs to the waiter's context. A
                        // refused dispatch is an answer already: decide again.
                        if !self.ask(service, &headers, waiter.context_id, now_ms) {
                            self.resume_or_answer(waiter.context_id, now_ms);
                        }
                    }
                    Ran::Introspect(provider, token) => {
                        if !self.introspect(provider, &token.0, waiter.context_id, now_ms) {
                            self.resume_or_answer(waiter.context_id, now_ms);
                        }
                    }
                    Ran::Wait(providers) => {
                        wanted.extend(providers.iter().copied());
                        kept.push(Waiter {
                            providers,
                            ..waiter
                        });
                    }
                }
            }
            self.host.select(current).ok();
            self.waiters.extend(kept);
            crate::sorted::sort_dedup(&mut wanted);
            let settled = wanted
                .into_iter()
                .map(|p| self.ensure_fetch(p, now_ms, current))
                .fold(false, |any, f| any | (f == Fetch::Settled));
            if !settled {
                return;
            }
        }
    }

    fn fetching(&self, provider: usize, now_ms: u64) -> bool {
        let Some((_, _, cfg)) = self
            .gateway
            .remote_providers()
            .find(|(i, _, _)| *i == provider)
        else {
            return false;
        };
        self.state
            .jwks
            .get(provider)
            .is_some_and(|s| s.in_flight(cfg, now_ms))
    }

    /// The root's timer: prefetch at start, refresh before `cache_duration` ends, retry after
    /// failures, report key counts and ages, and answer requests that waited too long.
    pub fn on_tick(&mut self, root_id: u32, now_ms: u64) {
        self.give_up_overdue_calls(root_id, now_ms);
        self.start_due_fetches(root_id, now_ms);
        self.report_keys(now_ms);
        self.wake(root_id, now_ms, false);
    }

    /// The timer of a host that can only call out on behalf of a request (the native NGINX
    /// module: a fetch is a subrequest, which needs a parent): overdue calls and waiters only;
    /// the host calls [`Engine::start_due_fetches`] from its requests instead.
    pub fn on_idle_tick(&mut self, root_id: u32, now_ms: u64) {
        self.give_up_overdue_calls(root_id, now_ms);
        self.wake(root_id, now_ms, false);
    }

    /// Starts the fetches that are due (prefetch, refresh, retry after a failure, those
    /// `on_keys_loading: retry_after` scheduled) as calls of context `current`.
    pub fn start_due_fetches(&mut self, current: u32, now_ms: u64) {
        let scheduled = std::mem::take(&mut self.scheduled);
        for (provider, reason) in scheduled {
            let running = self
                .with_remote(provider, |state, cfg| state.in_flight(cfg, now_ms))
                .unwrap_or(true);
            if !running {
                self.start_fetch(provider, reason, now_ms, current);
            }
        }
        let remotes: Vec<usize> = self.gateway.remote_providers().map(|(i, _, _)| i).collect();
        for provider in remotes {
            let due = self.with_remote(provider, |state, cfg| state.due(cfg, now_ms));
            if let Some(Some(reason)) = due {
                self.start_fetch(provider, reason, now_ms, current);
            }
        }
    }

    /// Key counts and ages of the remote key sets, as gauges.
    fn report_keys(&mut self, now_ms: u64) {
        let gateway = Rc::clone(&self.gateway);
        for (provider, name, _) in gateway.remote_providers() {
            if let Some((keys, age)) = self.with_remote(provider, |s, _| s.status(now_ms)) {
                let prefix = self.gateway.stat_prefix();
                self.host
                    .gauge(&format!("{prefix}.jwks.{name}.keys"), keys as u64);
                self.host
                    .gauge(&format!("{prefix}.jwks.{name}.age_seconds"), age);
            }
        }
    }

    /// Enforces each call's timeout as a total deadline: some hosts time out per read only
    /// (ngx_wasm_module), so an answer that drips bytes would hold its requests forever. An
    /// overdue JWKS fetch counts as failed (its waiters are decided without it); an overdue
    /// auth call is that service's failed answer. A late answer finds no token and is ignored.
    fn give_up_overdue_calls(&mut self, current: u32, now_ms: u64) {
        let gateway = Rc::clone(&self.gateway);
        let overdue_fetches = take_overdue(&mut self.fetches, now_ms, |p| {
            gateway
                .remote_providers()
                .find(|(i, _, _)| *i == p)
                .map_or(0, |(_, _, cfg)| cfg.endpoint.timeout_ms)
        });
        let fetches = &self.fetches;
        self.documents
            .retain(|token, _| fetches.contains_key(token));
        for (provider, _) in overdue_fetches {
            let name = self
                .gateway
                .remote_providers()
                .find(|(i, _, _)| *i == provider)
                .map(|(_, name, _)| name.to_string())
                .unwrap_or_default();
            self.host.log(LogLevel::Warn,
                &format!(
                    "jwtgate: JWKS fetch for provider {name} failed: {}; keeping the last good keys",
                    FetchFailure::Overdue.name()
                ),
            );
            self.failed(provider, &name, FetchFailure::Overdue, now_ms);
            if let Some((_, _, cfg)) = gateway.remote_providers().find(|(i, _, _)| *i == provider) {
                if gateway.share_jwks() {
                    self.release_fetch(cfg);
                }
            }
        }
        if !self.gateway.wake_other_requests() {
            // Answering a request from the timer needs the host to switch to it; without that,
            // the call ends by the host's own timeout and the request's own callback decides.
            return;
        }
        let overdue_calls = take_overdue(&mut self.ext_calls, now_ms, |s| {
            gateway
                .ext_services()
                .get(s)
                .map_or(0, |s| s.endpoint.timeout_ms)
        });
        for (service, context_id) in overdue_calls {
            if let Some(s) = self.gateway.ext_services().get(service) {
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "jwtgate: ext_auth {} failed: no answer within its timeout",
                        s.name
                    ),
                );
            }
            self.record_answer(
                service,
                context_id,
                ExtAnswer::Failed(ExtFailure::NoResponse),
            );
            self.waiters.retain(|w| w.context_id != context_id);
            if self.host.select(context_id).is_ok() {
                self.resume_or_answer(context_id, now_ms);
            }
        }
        let overdue_intro: Vec<u32> = self
            .intro_calls
            .iter()
            .filter(|(_, c)| {
                let timeout = gateway
                    .introspection_providers()
                    .find(|(i, _, _)| *i == c.provider)
                    .map_or(0, |(_, _, i)| i.endpoint.timeout_ms);
                now_ms >= c.started_ms.saturating_add(timeout)
            })
            .map(|(token, _)| *token)
            .collect();
        for token in overdue_intro {
            let Some(call) = self.intro_calls.remove(&token) else {
                continue;
            };
            let name = gateway
                .introspection_providers()
                .find(|(i, _, _)| *i == call.provider)
                .map(|(_, name, _)| name.to_string())
                .unwrap_or_default();
            self.host.log(
                LogLevel::Warn,
                &format!("jwtgate: introspection for provider {name} failed: no answer within its timeout"),
            );
            self.introspection_failed(call.provider, &name, Failure::NoResponse);
            let outcome = Rc::new(Err(crate::Rejection::IntrospectionError));
            self.deliver(&call, outcome, current, now_ms);
        }
        self.host.select(current).ok();
    }

    fn with_remote<T>(
        &mut self,
        provider: usize,
        f: impl FnOnce(&mut crate::remote_jwks::RemoteKeys, &RemoteJwks) -> T,
    ) -> Option<T> {
        let (_, _, cfg) = self
            .gateway
            .remote_providers()
            .find(|(i, _, _)| *i == provider)?;
        Some(f(self.state.jwks.get_mut(provider)?, cfg))
    }

    /// Makes sure keys for `provider` are on their way, for a request that waits for them
    /// (or, with `on_keys_loading: retry_after`, for its retry).
    fn ensure_fetch(&mut self, provider: usize, now_ms: u64, current: u32) -> Fetch {
        let next = self.with_remote(provider, |state, cfg| {
            if state.in_flight(cfg, now_ms) {
                return Fetch::Running;
            }
            match state.availability(cfg, now_ms) {
                Availability::Ready(_) => Fetch::Start(FetchReason::UnknownKid),
                Availability::Loading => Fetch::Start(FetchReason::Cold),
                // Backing off after failures: no fetch; deciding again refuses.
                Availability::Unavailable => Fetch::Settled,
            }
        });
        match next {
            // `on_keys_loading: retry_after`: the timer starts it (no request owns a call).
            Some(Fetch::Start(reason)) if self.gateway.retry_while_keys_load() => {
                if !self.scheduled.iter().any(|(p, _)| *p == provider) {
                    self.scheduled.push((provider, reason));
                }
                Fetch::Running
            }
            Some(Fetch::Start(reason)) => self.start_fetch(provider, reason, now_ms, current),
            Some(other) => other,
            None => Fetch::Settled,
        }
    }

    /// Starts a fetch, unless another worker's shared copy makes it unnecessary.
    fn start_fetch(
        &mut self,
        provider: usize,
        reason: FetchReason,
        now_ms: u64,
        current: u32,
    ) -> Fetch {
        if self.gateway.share_jwks() && self.adopt_shared(provider, reason, now_ms) {
            return Fetch::Settled;
        }
        let gateway = Rc::clone(&self.gateway);
        let Some((_, name, cfg)) = gateway.remote_providers().find(|(i, _, _)| *i == provider)
        else {
            return Fetch::Settled;
        };
        if self.gateway.share_jwks() && !self.claim_fetch(cfg, now_ms) {
            // Another worker fetches this set now: its copy is adopted when a waiting request
            // is decided again (the timer) or the next due check runs.
            self.host.log(
                LogLevel::Debug,
                &format!("jwtgate: JWKS of provider {name}: another worker is fetching it"),
            );
            self.count(&format!("jwks.{name}.fetch_left_to_other_worker"));
            return Fetch::Running;
        }
        // With discovery: the learned JWKS endpoint, or first the document.
        let learned = cfg.discovery.as_ref().and_then(|_| {
            self.state
                .jwks
                .get(provider)
                .and_then(|s| s.jwks_endpoint(now_ms))
                .cloned()
        });
        let reading_document = cfg.discovery.is_some() && learned.is_none();
        let endpoint = learned.as_ref().unwrap_or(&cfg.endpoint);
        let dispatched = self.host.dispatch(
            &endpoint.upstream,
            &cfg.request_headers_to(endpoint),
            &[],
            endpoint.timeout_ms,
        );
        match dispatched {
            Ok(token) => {
                self.fetches.insert(token, (provider, current, now_ms));
                if reading_document {
                    self.documents.insert(token, reason);
                }
                self.with_remote(provider, |state, _| state.start(reason, now_ms));
                let what = if reading_document {
                    "the OpenID configuration"
                } else {
                    "JWKS"
                };
                self.host.log(
                    LogLevel::Debug,
                    &format!(
                        "jwtgate: fetching {what} of provider {name} from {}",
                        endpoint.uri
                    ),
                );
                Fetch::Running
            }
            Err(status) => {
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "jwtgate: JWKS fetch for provider {name} refused by the host ({status}); \
                         check cluster/upstream `{}`",
                        endpoint.upstream
                    ),
                );
                self.failed(provider, name, FetchFailure::DispatchRefused, now_ms);
                Fetch::Settled
            }
        }
    }

    /// Claims the fetch of `cfg`'s set for this worker in shared data until its timeout.
    /// False when another worker holds an unexpired claim (or won the race for it). A store
    /// that refuses (no shared data) cannot coordinate: this worker fetches.
    fn claim_fetch(&self, cfg: &RemoteJwks, now_ms: u64) -> bool {
        let key = cfg.lease_key();
        let mine = format!(
            "{} {:x}",
            now_ms.saturating_add(cfg.endpoint.timeout_ms),
            self.worker_id
        );
        let cas = match self.host.shared_get(&key) {
            Some((value, cas)) => {
                let (until, owner) = parse_lease(&value);
                if until > now_ms && owner != Some(self.worker_id) {
                    return false;
                }
                cas
            }
            None => 0,
        };
        match self.host.shared_set(&key, mine.as_bytes(), cas) {
            // A new key is written without a check (CAS 0): read it back, the last writer
            // holds it.
            Ok(()) if cas == 0 => self
                .host
                .shared_get(&key)
                .is_none_or(|(value, _)| value == mine.as_bytes()),
            Ok(()) => true,
            Err(HostError(8)) => false,
            Err(_) => true,
        }
    }

    /// Ends this worker's claim on `cfg`'s fetch (answered, failed or overdue).
    fn release_fetch(&self, cfg: &RemoteJwks) {
        let key = cfg.lease_key();
        if let Some((value, cas)) = self.host.shared_get(&key) {
            if parse_lease(&value).1 == Some(self.worker_id) {
                let _ =
                    self.host
                        .shared_set(&key, format!("0 {:x}", self.worker_id).as_bytes(), cas);
            }
        }
    }

    /// Adopts a fresher copy another worker stored, when it makes this fetch unnecessary.
    fn adopt_shared(&mut self, provider: usize, reason: FetchReason, now_ms: u64) -> bool {
        let gateway = Rc::clone(&self.gateway);
        let Some((_, name, cfg)) = gateway.remote_providers().find(|(i, _, _)| *i == provider)
        else {
            return false;
        };
        let Some((value, _)) = self.host.shared_get(&cfg.shared_key()) else {
            return false;
        };
        let Some((fetched_at, body)) = decode_shared(&value) else {
            return false;
        };
        let adopted = self.with_remote(provider, |state, cfg| {
            let installed = state.adopt(body, fetched_at, now_ms)?;
            // Refresh: only if the copy is fresh enough to skip our own fetch.
            let enough = reason != FetchReason::Refresh || state.due(cfg, now_ms).is_none();
            Some((installed, enough))
        });
        let Some(Some((installed, enough))) = adopted else {
            return false;
        };
        if installed.changed {
            self.forget_tokens(provider);
        }
        self.host.log(
            LogLevel::Info,
            &format!(
                "jwtgate: JWKS of provider {name}: adopted {} keys another worker fetched",
                installed.keys
            ),
        );
        self.count(&format!("jwks.{name}.shared_adopted"));
        enough
    }

    fn forget_tokens(&mut self, provider: usize) {
        self.state.tokens.forget_provider(provider);
    }

    fn failed(&mut self, provider: usize, name: &str, failure: FetchFailure, now_ms: u64) {
        self.with_remote(provider, |state, cfg| state.failed(cfg, failure, now_ms));
        self.count(&format!("jwks.{name}.fetch_failed"));
        self.count(&format!("jwks.{name}.fetch_failed.{}", failure.name()));
    }

    /// An answer to one of our callouts. Returns false for a callout that is not a JWKS fetch.
    fn on_fetch_response(
        &mut self,
        token: u32,
        body_size: usize,
        now_ms: u64,
        current: u32,
    ) -> bool {
        let Some((provider, _, _)) = self.fetches.remove(&token) else {
            return false;
        };
        if let Some(reason) = self.documents.remove(&token) {
            if self.document_answered(provider, reason, body_size, now_ms, current) {
                // The JWKS fetch it named runs under the same claim.
                return true;
            }
        } else {
            self.fetch_answered(provider, body_size, now_ms);
        }
        // Released once the outcome is stored, so a worker that then finds the claim free
        // finds the new copy too.
        let gateway = Rc::clone(&self.gateway);
        if let Some((_, _, cfg)) = gateway.remote_providers().find(|(i, _, _)| *i == provider) {
            if gateway.share_jwks() {
                self.release_fetch(cfg);
            }
        }
        true
    }

    /// Takes the answer of an OpenID configuration fetch: learns the JWKS endpoint and fetches
    /// it (true), or records the failure (false: the last good keys stay).
    fn document_answered(
        &mut self,
        provider: usize,
        reason: FetchReason,
        body_size: usize,
        now_ms: u64,
        current: u32,
    ) -> bool {
        let gateway = Rc::clone(&self.gateway);
        let Some((_, name, cfg)) = gateway.remote_providers().find(|(i, _, _)| *i == provider)
        else {
            return false;
        };
        let status = self
            .host
            .answer_header(":status")
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let body = match cfg.check_answer(status.as_deref(), body_size) {
            Ok(()) => match self.host.answer_body(body_size) {
                Ok(Some(body)) if body.len() == body_size => Ok(body),
                _ => Err(FetchFailure::Truncated),
            },
            Err(failure) => Err(failure),
        };
        match body.and_then(|body| cfg.discovered(&body)) {
            Ok(endpoint) => {
                self.host.log(
                    LogLevel::Info,
                    &format!(
                        "jwtgate: OpenID configuration of provider {name} from {}: JWKS at {} (cluster `{}`)",
                        cfg.endpoint.uri, endpoint.uri, endpoint.upstream
                    ),
                );
                if endpoint.authority != cfg.endpoint.authority
                    && endpoint.upstream == cfg.endpoint.upstream
                {
                    self.host.log(
                        LogLevel::Warn,
                        &format!(
                            "jwtgate: provider {name}: the JWKS is on {}, the document on {}; both \
                             are fetched through cluster `{}` (set openid_configuration.jwks_cluster \
                             if it does not serve {})",
                            endpoint.authority,
                            cfg.endpoint.authority,
                            endpoint.upstream,
                            endpoint.authority
                        ),
                    );
                }
                self.with_remote(provider, |state, _| state.learn(endpoint, now_ms));
                self.count(&format!("jwks.{name}.discovered"));
                self.start_fetch(provider, reason, now_ms, current);
                true
            }
            Err(failure) => {
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "jwtgate: OpenID configuration of provider {name} from {} failed: {} \
                         (status {}); keeping the last good keys",
                        cfg.endpoint.uri,
                        failure.name(),
                        status.as_deref().unwrap_or("none")
                    ),
                );
                self.failed(provider, name, failure, now_ms);
                false
            }
        }
    }

    /// Takes a JWKS fetch's answer: a new key set, or a failure that keeps the last good one.
    fn fetch_answered(&mut self, provider: usize, body_size: usize, now_ms: u64) {
        let gateway = Rc::clone(&self.gateway);
        let Some((_, name, cfg)) = gateway.remote_providers().find(|(i, _, _)| *i == provider)
        else {
            return;
        };
        let header = |n: &str| {
            self.host
                .answer_header(n)
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        let status = header(":status");
        if let Err(failure) = cfg.check_answer(status.as_deref(), body_size) {
            // ngx_wasm_module says why in `:dispatch_status` (e.g. "broken connection").
            let why = header(":dispatch_status")
                .or(status)
                .unwrap_or_else(|| "no response".into());
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "jwtgate: JWKS fetch for provider {name} from {} failed: {} ({why}); \
                     keeping the last good keys",
                    cfg.endpoint.uri,
                    failure.name()
                ),
            );
            self.failed(provider, name, failure, now_ms);
            return;
        }
        // The size was checked against `max_body_bytes` above, before reading. A body shorter
        // than announced (a connection cut mid-body) is a failed fetch, not a key set.
        let body = match self.host.answer_body(body_size) {
            Ok(body) => body.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        if body.len() != body_size {
            self.host.log(LogLevel::Warn,
                &format!(
                    "jwtgate: JWKS fetch for provider {name} from {} failed: {} ({} of {body_size} body bytes); \
                     keeping the last good keys",
                    cfg.endpoint.uri,
                    FetchFailure::Truncated.name(),
                    body.len()
                ),
            );
            self.failed(provider, name, FetchFailure::Truncated, now_ms);
            return;
        }
        let result = self.with_remote(provider, |state, cfg| state.fetched(cfg, &body, now_ms));
        match result {
            Some(Ok((installed, parsed))) => {
                for (index, why) in parsed.skipped.iter().take(24) {
                    self.host.log(
                        LogLevel::Warn,
                        &format!("jwtgate: JWKS of provider {name}: keys[{index}] skipped: {why}"),
                    );
                }
                self.host.log(
                    LogLevel::Info,
                    &format!(
                        "jwtgate: JWKS of provider {name} fetched from {}: {} keys{}",
                        cfg.endpoint.uri,
                        installed.keys,
                        if installed.changed {
                            ""
                        } else {
                            " (unchanged)"
                        }
                    ),
                );
                if installed.changed {
                    self.forget_tokens(provider);
                }
                self.count(&format!("jwks.{name}.fetch_success"));
                if self.gateway.share_jwks() {
                    self.share(cfg, name, &body, now_ms);
                }
            }
            Some(Err(failure)) => {
                self.host.log(
                    LogLevel::Warn,
                    &format!(
                        "jwtgate: JWKS fetch for provider {name} from {} failed: {}; \
                         keeping the last good keys",
                        cfg.endpoint.uri,
                        failure.name()
                    ),
                );
                self.count(&format!("jwks.{name}.fetch_failed"));
                self.count(&format!("jwks.{name}.fetch_failed.{}", failure.name()));
            }
            None => {}
        }
    }

    /// A context is going away: it no longer waits, and fetches it dispatched will never be
    /// answered (the host cancels a context's callouts), so the next tick fetches again.
    pub fn forget_context(&mut self, context_id: u32) {
        self.waiters.retain(|w| w.context_id != context_id);
        self.answers.remove(&context_id);
        self.ext_calls.retain(|_, (_, ctx, _)| *ctx != context_id);
        // Its introspection calls are cancelled with it: requests that shared one are decided
        // again by the next tick (and ask again).
        self.intro_answers.remove(&context_id);
        self.intro_calls.retain(|_, c| c.owner != context_id);
        for call in self.intro_calls.values_mut() {
            call.contexts.retain(|&c| c != context_id);
        }
        let mine: Vec<u32> = self
            .fetches
            .iter()
            .filter(|(_, (_, ctx, _))| *ctx == context_id)
            .map(|(token, _)| *token)
            .collect();
        let orphaned: Vec<usize> = mine
            .iter()
            .filter_map(|t| self.fetches.remove(t).map(|(p, _, _)| p))
            .collect();
        for token in &mine {
            self.documents.remove(token);
        }
        for provider in orphaned {
            self.with_remote(provider, |state, _| state.abandon());
        }
    }

    /// Stores a fetched JWKS for the other workers (best effort; CAS so a newer copy is not
    /// overwritten with an older one on hosts with strict CAS).
    fn share(&self, cfg: &RemoteJwks, name: &str, body: &[u8], now_ms: u64) {
        let key = cfg.shared_key();
        let (cas, newer) = match self.host.shared_get(&key) {
            Some((value, cas)) => (
                cas,
                decode_shared(&value).is_some_and(|(at, _)| at > now_ms),
            ),
            None => (0, false),
        };
        if newer {
            return;
        }
        if let Err(status) = self
            .host
            .shared_set(&key, &encode_shared(now_ms, body), cas)
        {
            self.host.log(
                LogLevel::Debug,
                &format!("jwtgate: JWKS of provider {name} not shared (host status {status})"),
            );
        }
    }

    /// Answers the effective context's request. A host that refuses leaves it paused: never
    /// forwarded (on Envoy the stream then times out).
    pub fn respond(&self, response: &LocalResponse) {
        if let Err(status) = self.host.respond(response) {
            self.host.log(
                LogLevel::Error,
                &format!("jwtgate: the host refused the local response ({status})"),
            );
        }
    }
}

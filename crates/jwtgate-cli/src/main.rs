//! `jwtgate`: check a configuration like `nginx -t`, explain what the filter decides for a
//! request — with the same core code the filter runs — and mint test tokens and demo keys.
//!
//!   jwtgate check CONFIG|- [--json] [--strict]
//!   jwtgate explain CONFIG --path /x [--method GET] [-H 'name: value']... [--now UNIX] [--json]
//!   jwtgate mint --alg ALG --key FILE [--kid K] [--claim k=v]... [--exp 1h]
//!   jwtgate keygen --alg ALG [--kid K] [--out DIR]

#[cfg(any(feature = "es384", feature = "es512"))]
mod ecdsa_nist;
mod lint;
mod mint;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use jwtgate_core::authorize::{ClaimOp, Condition};
use jwtgate_core::requirement::Requirement;
use jwtgate_core::token::peek;
use jwtgate_core::{Decision, Gateway, HeaderOp, Rejection, Request};

const USAGE: &str = "usage:
  jwtgate check CONFIG|- [--json] [--strict]
  jwtgate explain CONFIG --path PATH [--method GET] [-H 'name: value']... [--now UNIX_SECONDS] [--json]
  jwtgate mint --alg ALG --key FILE [--kid KID] [--iss ISS] [--sub SUB] [--aud AUD]... [--claim k=v]... [--exp 1h]
  jwtgate keygen --alg ALG [--kid KID] [--out DIR] [--bits 2048]
  jwtgate schema [--kong]
  jwtgate COMMAND --help
  jwtgate [COMMAND] --version

check    validates a configuration (JSON, as given to the filter; `-`: read it from stdin):
         exit 0, or 1 with every error by field path; warns about paths left unprotected.
explain  runs one request through the same decision code the filter runs and prints the rule,
         the tokens found, the checks and the answer (or the forwarded header changes).
         Remote JWKS are not fetched: their tokens show as keys_unavailable.
mint     signs a test token (HS*, RS*, PS*, ES*, EdDSA) with a key file.
keygen   writes a demo key and its public JWKS.
schema   prints the configuration's JSON Schema (Draft 4); --kong: Kong's jwtgate.meta.json.

exit codes: 0 ok, 1 invalid configuration / failed command, 2 usage error.";

const CHECK_USAGE: &str = "usage: jwtgate check CONFIG|- [--json] [--strict]

Validates CONFIG (`-`: the configuration is read from stdin) like `nginx -t`: exit 0 and a
summary, or exit 1 and every error, one per line as `field.path: problem` (--json:
{\"valid\": false, \"errors\": [{\"path\", \"message\"}], \"warnings\": [..]}).
Warnings (exit 0 unless --strict, then 1): values jwtgate adjusted (a clamped cache_duration),
and configurations that protect nothing or leave paths unchecked: no providers, no rules, no
catch-all rule for `/`, an open rule placed before a protected one that it shadows.";

/// `jwtgate --version`: the crate version, and the commit when the build was given one
/// (`JWTGATE_GIT_COMMIT=$(git rev-parse --short HEAD) cargo build`).
fn version() -> String {
    match option_env!("JWTGATE_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => {
            format!("jwtgate {} ({commit})", env!("CARGO_PKG_VERSION"))
        }
        _ => format!("jwtgate {}", env!("CARGO_PKG_VERSION")),
    }
}

const EXPLAIN_USAGE: &str =
    "usage: jwtgate explain CONFIG --path PATH [--method GET] [-H 'name: value']...
                       [--now UNIX_SECONDS] [--json]

Prints the rule that matched, each token found and where, each check with pass/fail (a failed
claim condition by its field path: which `claims` entry and what the token has), and the final
answer (status, headers, body) or the header changes forwarded upstream. Auth services are not
called: for an ext_auth rule it prints the service it would call and the callout headers.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help");
    let command = args.first().map(String::as_str);
    let known = ["check", "explain", "mint", "keygen", "schema", "help"];
    if matches!(command, Some("--version" | "-V" | "version"))
        || (command.is_some_and(|c| known.contains(&c)) && args.iter().any(|a| a == "--version"))
    {
        return help(&version());
    }
    match (command, wants_help) {
        (Some("check"), true) => help(CHECK_USAGE),
        (Some("explain"), true) => help(EXPLAIN_USAGE),
        (Some("mint"), true) => help(mint::MINT_USAGE),
        (Some("keygen"), true) => help(mint::KEYGEN_USAGE),
        (Some("check"), false) => {
            let rest = args.get(1..).unwrap_or_default();
            let (flags, files): (Vec<&String>, Vec<&String>) = rest
                .iter()
                .partition(|a| a.starts_with("--") && a.len() > 2);
            let json = flags.iter().any(|f| *f == "--json");
            let strict = flags.iter().any(|f| *f == "--strict");
            match files.as_slice() {
                [config] if flags.iter().all(|f| *f == "--json" || *f == "--strict") => {
                    check(config, json, strict)
                }
                _ => usage_error(CHECK_USAGE),
            }
        }
        (Some("explain"), false) => match (args.get(1), args.get(2..)) {
            (Some(config), Some(rest)) => explain(config, rest),
            _ => usage_error(EXPLAIN_USAGE),
        },
        (Some("schema"), _) => match args.get(1).map(String::as_str) {
            None => help(&format!("{:#}", Gateway::json_schema())),
            Some("--kong") => help(&format!(
                "{:#}",
                serde_json::json!({"config_schema": Gateway::json_schema()})
            )),
            Some(_) => usage_error(USAGE),
        },
        (Some("mint"), false) => printed(mint::mint(args.get(1..).unwrap_or_default())),
        (Some("keygen"), false) => printed(mint::keygen(args.get(1..).unwrap_or_default())),
        (Some("-h" | "--help" | "help"), _) => help(USAGE),
        _ => usage_error(USAGE),
    }
}

fn help(text: &str) -> ExitCode {
    println!("{text}");
    ExitCode::SUCCESS
}

fn usage_error(text: &str) -> ExitCode {
    eprintln!("{text}");
    ExitCode::from(2)
}

fn printed(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("jwtgate: {e}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &str) -> Result<Gateway, String> {
    let (bytes, label) = read_config(path)?;
    Gateway::from_json(&bytes).map_err(|e| format!("{label}: {e}"))
}

/// The configuration's bytes and the name to print for it (`-`: stdin).
fn read_config(path: &str) -> Result<(Vec<u8>, String), String> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| format!("<stdin>: {e}"))?;
        return Ok((bytes, "<stdin>".into()));
    }
    std::fs::read(path)
        .map(|b| (b, path.to_string()))
        .map_err(|e| format!("{path}: {e}"))
}

fn check(path: &str, json: bool, strict: bool) -> ExitCode {
    let (bytes, label) = match read_config(path) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let errors = Gateway::check_all(&bytes);
    let gateway = Gateway::from_json(&bytes).ok();
    let warnings: Vec<String> = gateway
        .as_ref()
        .map(|g| {
            let mut all = g.warnings().to_vec();
            all.extend(lint::coverage(g));
            all
        })
        .unwrap_or_default();
    if json {
        let mut out = serde_json::json!({
            "valid": errors.is_empty(),
            "errors": errors.iter().map(|e| serde_json::json!({"path": e.path, "message": e.message})).collect::<Vec<_>>(),
        });
        if let (false, Some(map)) = (warnings.is_empty(), out.as_object_mut()) {
            map.insert("warnings".into(), serde_json::json!(warnings));
        }
        println!("{out}");
    } else if let Some(gateway) = &gateway {
        for w in &warnings {
            eprintln!("{label}: warning: {w}");
        }
        let (providers, rules) = gateway.summary();
        let noted = match (warnings.len(), strict) {
            (0, _) => String::new(),
            (n, false) => format!(", {n} warning(s)"),
            (n, true) => format!(", {n} warning(s): failed under --strict"),
        };
        println!("{label}: OK ({providers} providers, {rules} rules{noted})");
    } else {
        for e in &errors {
            eprintln!("{label}: {e}");
        }
        eprintln!("{label}: {} error(s)", errors.len());
    }
    if !errors.is_empty() || (strict && !warnings.is_empty()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

struct ExplainArgs {
    path: String,
    method: String,
    headers: Vec<(String, String)>,
    now: u64,
    json: bool,
}

fn parse_explain(args: &[String]) -> Result<ExplainArgs, String> {
    let mut out = ExplainArgs {
        path: String::new(),
        method: "GET".into(),
        headers: Vec::new(),
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        json: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--path" => out.path = value()?,
            "--method" => out.method = value()?.to_ascii_uppercase(),
            "-H" | "--header" => {
                let h = value()?;
                let (n, v) = h
                    .split_once(':')
                    .ok_or(format!("header {h:?} is not 'name: value'"))?;
                out.headers
                    .push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
            "--now" => out.now = value()?.parse().map_err(|_| "--now takes unix seconds")?,
            "--json" => out.json = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if out.path.is_empty() {
        return Err("--path is required".into());
    }
    Ok(out)
}

fn explain(config: &str, args: &[String]) -> ExitCode {
    let gateway = match load(config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let args = match parse_explain(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let request = Request {
        method: &args.method,
        path: &args.path,
        headers: &args.headers,
    };
    let verdict = gateway.decide(&request, args.now);
    // `decide` counts auth services as failed (nothing is called here); asked with the right
    // to wait, the core says which service it would call instead.
    let waiting = gateway
        .decide_with(
            &request,
            args.now.saturating_mul(1000),
            &mut gateway.new_vm_state(0),
            &[],
            true,
        )
        .decision;
    let asks = match &waiting {
        Decision::AskExtAuth { service, headers } => Some((
            gateway.ext_auth_name(*service).unwrap_or("?").to_string(),
            headers.clone(),
        )),
        _ => None,
    };
    // An introspection provider would ask its endpoint (the client secret is never shown).
    let introspects = match &waiting {
        Decision::Introspect { provider, .. } => gateway
            .introspection_providers()
            .find(|(i, _, _)| i == provider)
            .map(|(_, name, i)| (name.to_string(), i.endpoint.uri.clone())),
        _ => None,
    };
    let rule = verdict.rule.and_then(|i| {
        let text = gateway.describe_rule(i)?;
        let mut services = Vec::new();
        if let Some(requires) = gateway.rules().get(i).and_then(|r| r.requires.as_ref()) {
            ext_auth_services(requires, &mut services);
        }
        let names: Vec<String> = services
            .iter()
            .filter_map(|s| gateway.ext_auth_name(*s))
            .map(|n| format!("ext_auth {n}"))
            .collect();
        let joined = names.join(" / ");
        Some(if names.is_empty() {
            text
        } else if text.ends_with("→ requires ") || text.contains("→ requires  (dry-run)") {
            text.replacen("→ requires ", &format!("→ requires {joined}"), 1)
        } else {
            text.replacen("→ requires ", &format!("→ requires {joined} / "), 1)
        })
    });
    let tokens = gateway.find_tokens(&request);
    let failed_claim = match verdict.rejection {
        Some(Rejection::ClaimsForbidden | Rejection::ClaimsRejected) => verdict
            .rule
            .and_then(|i| failed_condition(&gateway, i, &tokens)),
        _ => None,
    };

    if args.json {
        let decision = match &verdict.decision {
            Decision::Respond(r) => serde_json::json!({
                "action": "respond", "status": r.status, "headers": r.headers, "body": r.body}),
            Decision::Forward(ops) => serde_json::json!({
                "action": "forward",
                "remove": ops.iter().filter_map(|o| match o { HeaderOp::Remove(n) => Some(n), _ => None }).collect::<Vec<_>>(),
                "set": ops.iter().filter_map(|o| match o { HeaderOp::Set(n, v) => Some([n, v]), _ => None }).collect::<Vec<_>>()}),
            Decision::WaitForKeys(_) => serde_json::json!({"action": "wait_for_keys"}),
            Decision::AskExtAuth { headers, .. } => {
                serde_json::json!({"action": "ask_ext_auth", "headers": headers})
            }
            Decision::Introspect { .. } => serde_json::json!({"action": "introspect"}),
        };
        let decision = match (&asks, &introspects) {
            (Some((service, headers)), _) => serde_json::json!({
                "action": "ask_ext_auth", "service": service, "headers": headers}),
            (None, Some((provider, uri))) => serde_json::json!({
                "action": "introspect", "provider": provider, "uri": uri}),
            (None, None) => decision,
        };
        let reason = match (&asks, &introspects) {
            (None, None) => verdict.rejection.map(|r| r.name()),
            _ => None,
        };
        let out = serde_json::json!({
            "rule": rule,
            "tokens": tokens.iter().map(|(p, s, _)| serde_json::json!({"provider": p, "location": s})).collect::<Vec<_>>(),
            "reason": reason,
            "failed_claim": failed_claim,
            "dry_run": verdict.dry_run,
            "providers": verdict.providers,
            "decision": decision,
        });
        println!("{out:#}");
        return ExitCode::SUCCESS;
    }

    println!("request:  {} {} (now {})", args.method, args.path, args.now);
    match &rule {
        Some(r) => println!("rule:     {r}"),
        None if verdict.cors_bypassed => println!("rule:     CORS preflight, bypassed"),
        None => println!("rule:     none matches: the request passes unchecked"),
    }
    if tokens.is_empty() {
        println!("tokens:   none in any provider's locations");
    }
    // Providers that read the same location see the same token: show it once.
    let mut shown: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for (provider, source, token) in &tokens {
        match shown.iter_mut().find(|(s, t, _)| s == source && t == token) {
            Some((_, _, providers)) => providers.push(provider),
            None => shown.push((source, token, vec![provider])),
        }
    }
    for (source, token, providers) in &shown {
        println!(
            "token:    {source} (provider {}), {} bytes",
            providers.join(", "),
            token.len()
        );
        if let Some((header, claims)) = peek(token) {
            println!("          header (unverified): {header}");
            println!("          claims (unverified): {claims}");
        }
    }
    if let Some((service, headers)) = &asks {
        println!("checks:   the rule asks auth service `{service}`");
        println!("answer:   would call {service} (ext_auth): the answer decides");
        for (n, v) in headers {
            println!("          > {n}: {v}");
        }
        return ExitCode::SUCCESS;
    }
    if let Some((provider, uri)) = &introspects {
        println!("checks:   provider `{provider}` introspects opaque tokens (RFC 7662)");
        println!(
            "answer:   would POST the token to {uri} (client authentication not shown): the answer decides"
        );
        return ExitCode::SUCCESS;
    }
    match verdict.rejection {
        None => {
            if !verdict.providers.is_empty() {
                println!("checks:   token found ✓, structure ✓, algorithm ✓, issuer ✓, key ✓, signature ✓, time ✓, audience ✓, claim conditions ✓");
            }
        }
        Some(r) => {
            println!("checks:   {}", checks_until(r.name()));
            println!(
                "reason:   {} — {}{}",
                r.name(),
                r.description(),
                if verdict.dry_run {
                    " (dry-run: not enforced)"
                } else {
                    ""
                }
            );
            if let Some(failed) = &failed_claim {
                println!("failed:   {failed}");
            }
        }
    }
    match &verdict.decision {
        Decision::Respond(response) => {
            println!("answer:   {} (local response)", response.status);
            for (n, v) in &response.headers {
                println!("          {n}: {v}");
            }
            if !response.body.is_empty() {
                println!("          {}", response.body);
            }
        }
        Decision::WaitForKeys(_) => println!("answer:   paused until remote JWKS keys arrive"),
        Decision::AskExtAuth { .. } => println!("answer:   paused for the auth service"),
        Decision::Introspect { .. } => println!("answer:   paused for token introspection"),
        Decision::Forward(ops) => {
            println!("answer:   forwarded upstream");
            for op in ops {
                match op {
                    HeaderOp::Remove(n) => println!("          - {n}"),
                    HeaderOp::Set(n, v) => println!("          + {n}: {v}"),
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// The verification steps in order, passed up to the one `reason` failed.
fn checks_until(reason: &str) -> String {
    const STEPS: [(&str, &[&str]); 9] = [
        ("token found", &["missing_token"]),
        (
            "structure",
            &["token_too_large", "malformed_token", "malformed_header"],
        ),
        (
            "algorithm",
            &["unsupported_algorithm", "unsupported_critical"],
        ),
        ("issuer", &["issuer_mismatch"]),
        (
            "key",
            &["key_not_found", "keys_unavailable", "keys_loading"],
        ),
        ("signature", &["invalid_signature"]),
        (
            "time",
            &[
                "malformed_claims",
                "expired",
                "not_yet_valid",
                "missing_expiration",
                "lifetime_too_long",
            ],
        ),
        ("audience", &["audience_not_allowed"]),
        ("claim conditions", &["claims_forbidden", "claims_rejected"]),
    ];
    let mut out = Vec::new();
    for (step, reasons) in STEPS {
        if reasons.contains(&reason) {
            out.push(format!("{step} ✗"));
            return out.join(", ");
        }
        out.push(format!("{step} ✓"));
    }
    out.join(", ")
}

/// The first claim condition of rule `rule` that a found token fails, as
/// "rules[1].requires.claims[0]: `role` equals \"admin\"; the token has role = \"user\"".
/// The claims are read without verification: explain has already said the signature held.
fn failed_condition(
    gateway: &Gateway,
    rule: usize,
    tokens: &[(String, String, String)],
) -> Option<String> {
    let requires = gateway.rules().get(rule)?.requires.as_ref()?;
    let mut found = Vec::new();
    provider_conditions(requires, format!("rules[{rule}].requires"), &mut found);
    for (at, provider, conditions) in found {
        let name = gateway.provider_name(provider)?;
        for (_, _, token) in tokens.iter().filter(|(p, _, _)| p == name) {
            let Some(serde_json::Value::Object(claims)) = jwtgate_core::token::peek(token)
                .and_then(|(_, payload)| serde_json::from_str(&payload).ok())
            else {
                continue;
            };
            if let Some((i, c)) = conditions
                .iter()
                .enumerate()
                .find(|(_, c)| !c.holds(&claims))
            {
                let has = match jwtgate_core::claims::lookup(&claims, &c.claim) {
                    Some(v) if !v.is_null() => format!("the token has {} = {v}", c.claim),
                    _ => format!("the token has no `{}` claim", c.claim),
                };
                return Some(format!(
                    "{at}.claims[{i}]: `{}` {}; {has} ({} {})",
                    c.claim,
                    describe_op(c),
                    c.rejection.status(),
                    c.rejection.name()
                ));
            }
        }
    }
    None
}

/// Every provider requirement with claim conditions in `r`, with its field path.
fn provider_conditions<'g>(
    r: &'g Requirement,
    at: String,
    out: &mut Vec<(String, usize, &'g [Condition])>,
) {
    match r {
        Requirement::Provider {
            provider, claims, ..
        } if !claims.is_empty() => out.push((at, *provider, claims)),
        Requirement::Any(list) | Requirement::All(list) => {
            let field = if matches!(r, Requirement::Any(_)) {
                "requires_any"
            } else {
                "requires_all"
            };
            for (i, inner) in list.iter().enumerate() {
                provider_conditions(inner, format!("{at}.{field}.requirements[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn describe_op(c: &Condition) -> String {
    let list = |v: &[serde_json::Value]| serde_json::Value::from(v.to_vec()).to_string();
    match &c.op {
        ClaimOp::Equals(v) => format!("must equal {v}"),
        ClaimOp::OneOf(v) => format!("must be one of {}", list(v)),
        ClaimOp::Contains(v) => format!("must contain {v}"),
        ClaimOp::AllOf(v) => format!("must contain all of {}", list(v)),
        ClaimOp::Present(true) => "must be present".into(),
        ClaimOp::Present(false) => "must be absent".into(),
        ClaimOp::Gt(n) => format!("must be > {n}"),
        ClaimOp::Gte(n) => format!("must be >= {n}"),
        ClaimOp::Lt(n) => format!("must be < {n}"),
        ClaimOp::Lte(n) => format!("must be <= {n}"),
    }
}

/// The auth services a requirement may ask, in order.
fn ext_auth_services(r: &Requirement, out: &mut Vec<usize>) {
    match r {
        Requirement::ExtAuth(i) => out.push(*i),
        Requirement::Any(list) | Requirement::All(list) => {
            list.iter().for_each(|inner| ext_auth_services(inner, out))
        }
        _ => {}
    }
}

//! `jwtgate`: check a configuration like `nginx -t`, explain what the filter decides for a
//! request — with the same core code the filter runs — and mint test tokens and demo keys.
//!
//!   jwtgate check CONFIG [--json]
//!   jwtgate explain CONFIG --path /x [--method GET] [-H 'name: value']... [--now UNIX] [--json]
//!   jwtgate mint --alg ALG --key FILE [--kid K] [--claim k=v]... [--exp 1h]
//!   jwtgate keygen --alg ALG [--kid K] [--out DIR]

mod mint;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use jwtgate::core::token::peek;
use jwtgate::core::{Decision, Gateway, HeaderOp, Request};

const USAGE: &str = "usage:
  jwtgate check CONFIG [--json]
  jwtgate explain CONFIG --path PATH [--method GET] [-H 'name: value']... [--now UNIX_SECONDS] [--json]
  jwtgate mint --alg ALG --key FILE [--kid KID] [--iss ISS] [--sub SUB] [--aud AUD]... [--claim k=v]... [--exp 1h]
  jwtgate keygen --alg ALG [--kid KID] [--out DIR] [--bits 2048]
  jwtgate schema [--kong]
  jwtgate COMMAND --help

check    validates a configuration (JSON, as given to the filter): exit 0, or 1 with every
         error by field path.
explain  runs one request through the same decision code the filter runs and prints the rule,
         the tokens found, the checks and the answer (or the forwarded header changes).
         Remote JWKS are not fetched: their tokens show as keys_unavailable.
mint     signs a test token (HS*, RS*, PS*, ES*, EdDSA) with a key file.
keygen   writes a demo key and its public JWKS.
schema   prints the configuration's JSON Schema (Draft 4); --kong: Kong's jwtgate.meta.json.

exit codes: 0 ok, 1 invalid configuration / failed command, 2 usage error.";

const CHECK_USAGE: &str = "usage: jwtgate check CONFIG [--json]

Validates CONFIG like `nginx -t`: exit 0 and a summary, or exit 1 and every error, one per
line as `field.path: problem` (--json: {\"valid\": false, \"errors\": [{\"path\", \"message\"}]}).";

const EXPLAIN_USAGE: &str =
    "usage: jwtgate explain CONFIG --path PATH [--method GET] [-H 'name: value']...
                       [--now UNIX_SECONDS] [--json]

Prints the rule that matched, each token found and where, each check with pass/fail, and the
final answer (status, headers, body) or the header changes forwarded upstream.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help");
    match (args.first().map(String::as_str), wants_help) {
        (Some("check"), true) => help(CHECK_USAGE),
        (Some("explain"), true) => help(EXPLAIN_USAGE),
        (Some("mint"), true) => help(mint::MINT_USAGE),
        (Some("keygen"), true) => help(mint::KEYGEN_USAGE),
        (Some("check"), false) => match args.get(1..).unwrap_or_default() {
            [config] => check(config, false),
            [config, flag] if flag == "--json" => check(config, true),
            _ => usage_error(CHECK_USAGE),
        },
        (Some("explain"), false) if args.len() >= 2 => explain(&args[1], &args[2..]),
        (Some("explain"), false) => usage_error(EXPLAIN_USAGE),
        (Some("schema"), _) => match args.get(1).map(String::as_str) {
            None => help(&format!("{:#}", Gateway::json_schema())),
            Some("--kong") => help(&format!(
                "{:#}",
                serde_json::json!({"config_schema": Gateway::json_schema()})
            )),
            Some(_) => usage_error(USAGE),
        },
        (Some("mint"), false) => printed(mint::mint(&args[1..])),
        (Some("keygen"), false) => printed(mint::keygen(&args[1..])),
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
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Gateway::from_json(&bytes).map_err(|e| format!("{path}: {e}"))
}

fn check(path: &str, json: bool) -> ExitCode {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(1);
        }
    };
    let errors = Gateway::check_all(&bytes);
    let warnings: Vec<String> = Gateway::from_json(&bytes)
        .map(|g| g.warnings().to_vec())
        .unwrap_or_default();
    if json {
        let mut out = serde_json::json!({
            "valid": errors.is_empty(),
            "errors": errors.iter().map(|e| serde_json::json!({"path": e.path, "message": e.message})).collect::<Vec<_>>(),
        });
        if !warnings.is_empty() {
            out["warnings"] = serde_json::json!(warnings);
        }
        println!("{out}");
    } else if let Ok(gateway) = Gateway::from_json(&bytes) {
        for w in &warnings {
            eprintln!("{path}: warning: {w}");
        }
        let (providers, rules) = gateway.summary();
        println!("{path}: OK ({providers} providers, {rules} rules)");
    } else {
        for e in &errors {
            eprintln!("{path}: {e}");
        }
        eprintln!("{path}: {} error(s)", errors.len());
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
    let rule = verdict.rule.and_then(|i| gateway.describe_rule(i));
    let tokens = gateway.find_tokens(&request);

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
        };
        let out = serde_json::json!({
            "rule": rule,
            "tokens": tokens.iter().map(|(p, s, _)| serde_json::json!({"provider": p, "location": s})).collect::<Vec<_>>(),
            "reason": verdict.rejection.map(|r| r.name()),
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

//! `make run`: a local demo gateway on 127.0.0.1 that runs the real jwtgate.wasm through
//! proxy-wasm-host in front of a built-in echo upstream (or `--upstream host:port`).
//! For trying jwtgate and for development; production hosts are Envoy, NGINX and Kong.
//!
//! Each connection gets its own thread, which reads the whole request (10 s read timeout)
//! before it takes the one gateway (a Mutex: the filter runs one request at a time, as in one
//! proxy worker) and releases it before the upstream is called, so an idle or slow client never
//! holds up the others. The filter's log lines (configuration, deny reasons) are printed on
//! stderr under the request they belong to.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwtgate_host_tests::{hs256_token, wasm_path, Filter, Gateway, Outcome};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};
use sha2::Sha256;

const DEMO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo");
const HS_SECRET: &str = "demo-secret-at-least-32-bytes-long!!";
const USAGE: &str = "usage: jwtgate-demo [--listen 127.0.0.1:8080] [--config FILE] [--upstream HOST:PORT] [--self-test]";

struct Options {
    listen: String,
    config: PathBuf,
    upstream: Option<String>,
    self_test: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        listen: "127.0.0.1:8080".into(),
        config: PathBuf::from(DEMO_DIR).join("demo-config.json"),
        upstream: None,
        self_test: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => o.listen = args.next().ok_or(USAGE)?,
            "--config" => o.config = args.next().ok_or(USAGE)?.into(),
            "--upstream" => o.upstream = Some(args.next().ok_or(USAGE)?),
            "--self-test" => o.self_test = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn demo_claims(sub: &str, roles: &[&str]) -> Value {
    json!({"iss": "https://demo.jwtgate.local", "aud": "demo-api", "sub": sub, "roles": roles,
           "iat": now(), "exp": now() + 3600})
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn hs256_demo_token(claims: &Value) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "demo-hs"});
    hs256_token(
        HS_SECRET.as_bytes(),
        &header.to_string(),
        &claims.to_string(),
    )
}

fn rs256_token(claims: &Value) -> Result<String, String> {
    let pem = std::fs::read_to_string(PathBuf::from(DEMO_DIR).join("demo-rs256-private.pem"))
        .map_err(|e| format!("demo key: {e}"))?;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| e.to_string())?;
    let input = signing_input(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "demo-rs"}),
        claims,
    );
    let signature = SigningKey::<Sha256>::new(key).sign(input.as_bytes());
    Ok(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

/// One parsed HTTP/1.1 request.
struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> Result<HttpRequest, String> {
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err("bad request line".into());
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((n, v)) = trimmed.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        if headers.len() > 100 {
            return Err("too many headers".into());
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

fn write_response(stream: &mut TcpStream, status: u32, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in headers {
        if !n.starts_with(':') && n != "content-length" && n != "connection" {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn reason(status: u32) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "",
    }
}

/// Forwards to `--upstream`, or echoes what the upstream would have received.
fn upstream(
    upstream: Option<&str>,
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u32, Vec<(String, String)>, Vec<u8>) {
    let path = headers
        .iter()
        .find(|(n, _)| n == ":path")
        .map_or("/", |(_, v)| v.as_str());
    let Some(address) = upstream else {
        let seen: Vec<String> = headers
            .iter()
            .filter(|(n, _)| !n.starts_with(':'))
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        let echo = json!({"upstream": "jwtgate-demo echo", "method": method, "path": path, "headers": seen});
        let body = serde_json::to_vec_pretty(&echo).unwrap_or_default();
        return (
            200,
            vec![("content-type".into(), "application/json".into())],
            body,
        );
    };
    let result = (|| -> std::io::Result<Vec<u8>> {
        let mut conn = TcpStream::connect(address)?;
        conn.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        for (n, v) in headers
            .iter()
            .filter(|(n, _)| !n.starts_with(':') && n != "connection")
        {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("connection: close\r\n\r\n");
        conn.write_all(head.as_bytes())?;
        conn.write_all(body)?;
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw)?;
        Ok(raw)
    })();
    match result {
        // The upstream's raw answer is relayed as is (status 0 marks "already framed").
        Ok(raw) => (0, Vec::new(), raw),
        Err(e) => (
            502,
            vec![("content-type".into(), "text/plain".into())],
            format!("upstream {address}: {e}\n").into_bytes(),
        ),
    }
}

/// Prints the filter's log lines since the last call (under `title`), clears and returns them.
fn print_filter_logs(gateway: &Gateway, title: &str) -> Vec<String> {
    let lines = gateway.logs();
    gateway.clear_logs();
    let mut out = format!("{title}\n");
    for (level, line) in &lines {
        out.push_str(&format!(
            "  filter {}: {line}\n",
            format!("{level:?}").to_lowercase()
        ));
    }
    // One write: the lines of concurrent requests never interleave.
    eprint!("{out}");
    lines.into_iter().map(|(_, line)| line).collect()
}

/// The demo gateway: one filter VM, taken by one request at a time.
type SharedGateway = Arc<Mutex<Gateway>>;

/// Serves one connection; returns the filter log lines its request printed.
fn serve_one(
    gateway: &SharedGateway,
    upstream_address: Option<&str>,
    mut stream: TcpStream,
) -> Vec<String> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    // Read the whole request before taking the gateway: a slow client waits alone.
    let request = match read_request(&mut stream) {
        Ok(r) => r,
        Err(e) => {
            write_response(&mut stream, 400, &[], format!("{e}\n").as_bytes());
            return Vec::new();
        }
    };
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let (outcome, logged) = {
        let Ok(mut gateway) = gateway.lock() else {
            write_response(&mut stream, 500, &[], b"gateway unavailable\n");
            return Vec::new();
        };
        gateway.set_now(now());
        let result = gateway.try_request(&request.method, &request.path, &headers);
        let status = match &result {
            Ok(o) => o.status().to_string(),
            Err(e) => format!("filter failed: {e}"),
        };
        let logged = print_filter_logs(
            &gateway,
            &format!(
                "{} {} -> {status}",
                request.method,
                request.path.split('?').next().unwrap_or("")
            ),
        );
        (result, logged)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            write_response(
                &mut stream,
                500,
                &[],
                format!("filter failed: {e}\n").as_bytes(),
            );
            return logged;
        }
    };
    match outcome {
        Outcome::Local {
            status,
            headers,
            body,
        } => write_response(&mut stream, status, &headers, body.as_bytes()),
        Outcome::Forwarded { headers } => {
            let (status, h, body) =
                upstream(upstream_address, &request.method, &headers, &request.body);
            if status == 0 {
                let _ = stream.write_all(&body);
            } else {
                write_response(&mut stream, status, &h, &body);
            }
        }
    }
    logged
}

/// Serves `stream` on its own thread.
fn spawn_serve(
    gateway: &SharedGateway,
    upstream_address: Option<&str>,
    stream: TcpStream,
) -> std::thread::JoinHandle<Vec<String>> {
    let gateway = Arc::clone(gateway);
    let upstream_address = upstream_address.map(str::to_string);
    std::thread::spawn(move || serve_one(&gateway, upstream_address.as_deref(), stream))
}

/// Sends `request` to the running gateway and returns the status.
fn probe(address: &str, path: &str, auth: Option<&str>) -> Result<u32, String> {
    let mut conn = TcpStream::connect(address).map_err(|e| e.to_string())?;
    let auth = auth
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: demo\r\n{auth}connection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "no status line".into())
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("jwtgate-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<ExitCode, String> {
    let config = std::fs::read_to_string(&options.config)
        .map_err(|e| format!("{}: {e}", options.config.display()))?;
    let filter = Filter::load(&wasm_path())?;
    let gateway = filter.start(&config)?;
    print_filter_logs(&gateway, "filter started");
    let gateway: SharedGateway = Arc::new(Mutex::new(gateway));
    let listener =
        TcpListener::bind(&options.listen).map_err(|e| format!("{}: {e}", options.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();

    let user = hs256_demo_token(&demo_claims("alice", &["user"]));
    let admin = hs256_demo_token(&demo_claims("root", &["user", "admin"]));
    let rs = rs256_token(&demo_claims("bob", &["user"]))?;
    let upstream = options.upstream.as_deref().unwrap_or("built-in echo");
    println!(
        "jwtgate demo gateway on http://{address} (filter {}, upstream: {upstream})",
        wasm_path().display()
    );
    println!("config: {}\n", options.config.display());
    println!("# open route, no token needed");
    println!("curl -i http://{address}/public/hello\n");
    println!("# protected route without a token: 401 with WWW-Authenticate");
    println!("curl -i http://{address}/api/orders\n");
    println!(
        "# HS256 token (sub alice, roles [user]), valid for an hour: 200, upstream sees x-user-id"
    );
    println!("curl -i -H 'Authorization: Bearer {user}' http://{address}/api/orders\n");
    println!("# the same token on an admin route: 403 insufficient_scope");
    println!("curl -i -H 'Authorization: Bearer {user}' http://{address}/admin/\n");
    println!("# an admin token: 200");
    println!("curl -i -H 'Authorization: Bearer {admin}' http://{address}/admin/\n");
    println!("# RS256 token (sub bob): 200");
    println!("curl -i -H 'Authorization: Bearer {rs}' http://{address}/rs/profile\n");
    println!("Ctrl-C stops the gateway.");

    if options.self_test {
        let checks: Vec<(&str, Option<String>, u32)> = vec![
            ("/public/hello", None, 200),
            ("/api/orders", None, 401),
            ("/api/orders", Some(user.clone()), 200),
            ("/admin/", Some(user.clone()), 403),
            ("/admin/", Some(admin.clone()), 200),
            ("/rs/profile", Some(rs.clone()), 200),
        ];
        let denials = checks.iter().filter(|(_, _, want)| *want != 200).count();
        // An idle connection is open (nothing sent) while the probes run: they must not wait
        // for it (served one at a time, they waited for its 10 s read timeout).
        let connections = checks.len() + 1;
        let prober = {
            let address = address.clone();
            std::thread::spawn(move || -> Result<_, String> {
                let idle = TcpStream::connect(&address).map_err(|e| e.to_string())?;
                let started = Instant::now();
                let results = checks
                    .into_iter()
                    .map(|(path, auth, want)| {
                        (
                            path.to_string(),
                            probe(&address, path, auth.as_deref()),
                            want,
                        )
                    })
                    .collect::<Vec<_>>();
                let elapsed = started.elapsed();
                drop(idle);
                Ok((results, elapsed))
            })
        };
        let mut servers = Vec::new();
        for stream in listener.incoming().take(connections) {
            match stream {
                Ok(s) => servers.push(spawn_serve(&gateway, options.upstream.as_deref(), s)),
                Err(e) => return Err(e.to_string()),
            }
        }
        let (results, elapsed) = prober.join().map_err(|_| "probe thread failed")??;
        let mut deny_lines = 0;
        for server in servers {
            let lines = server.join().map_err(|_| "server thread failed")?;
            deny_lines += lines.iter().filter(|l| l.contains("deny status=")).count();
        }
        let mut ok = true;
        for (path, got, want) in results {
            println!("self-test {path}: {got:?} (want {want})");
            ok &= got == Ok(want);
        }
        let concurrent = elapsed < Duration::from_secs(5);
        println!(
            "self-test: probes took {} ms beside an idle connection (want < 5000)",
            elapsed.as_millis()
        );
        println!("self-test: {deny_lines} filter deny log lines (want {denials})");
        ok &= concurrent && deny_lines == denials;
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                spawn_serve(&gateway, options.upstream.as_deref(), s);
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

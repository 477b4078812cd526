//! Runs a Rust test binary built for wasm32-wasip1 (`cargo test --target wasm32-wasip1
//! --no-run`) under wasmtime — the engine proxy-wasm-host uses — so code that only exists in
//! the wasm build (jwtgate-rsa's SIMD128 kernel) meets the same tests as the native build.
//!
//! It provides just the WASI preview1 calls libtest and std make: arguments, `JWTGATE_*`
//! environment variables, clocks, randomness, stdout/stderr and exit. There are no files (no
//! preopened directories): a test that opens one fails.
//!
//! Usage: wasi-test-runner TEST.wasm [libtest arguments]; exits with the test binary's code.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Engine, Extern, Linker, Module, Store};

const WASI: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOENT: i32 = 44;

struct Ctx {
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    exit_code: Option<i32>,
    started: std::time::Instant,
}

type Call<'a> = Caller<'a, Ctx>;

fn memory_write(caller: &mut Call<'_>, at: i32, bytes: &[u8]) -> bool {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return false;
    };
    memory.write(caller, at as u32 as usize, bytes).is_ok()
}

fn memory_read(caller: &mut Call<'_>, at: i32, len: usize) -> Option<Vec<u8>> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return None;
    };
    let mut buf = vec![0; len];
    memory.read(caller, at as u32 as usize, &mut buf).ok()?;
    Some(buf)
}

/// `*_sizes_get`: count and total length (NUL-terminated) of a string list.
fn sizes(caller: &mut Call<'_>, list: &[Vec<u8>], count_at: i32, size_at: i32) -> i32 {
    let total: usize = list.iter().map(|s| s.len() + 1).sum();
    if memory_write(caller, count_at, &(list.len() as u32).to_le_bytes())
        && memory_write(caller, size_at, &(total as u32).to_le_bytes())
    {
        ERRNO_SUCCESS
    } else {
        ERRNO_INVAL
    }
}

/// `args_get`/`environ_get`: pointers into a buffer of NUL-terminated strings.
fn strings(caller: &mut Call<'_>, list: &[Vec<u8>], ptrs_at: i32, buf_at: i32) -> i32 {
    let mut offset = buf_at;
    for (i, s) in list.iter().enumerate() {
        let mut bytes = s.clone();
        bytes.push(0);
        if !memory_write(
            caller,
            ptrs_at + 4 * i as i32,
            &(offset as u32).to_le_bytes(),
        ) || !memory_write(caller, offset, &bytes)
        {
            return ERRNO_INVAL;
        }
        offset += bytes.len() as i32;
    }
    ERRNO_SUCCESS
}

fn link(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    linker.func_wrap(
        WASI,
        "args_sizes_get",
        |mut c: Call<'_>, n: i32, size: i32| {
            let list = c.data().args.clone();
            sizes(&mut c, &list, n, size)
        },
    )?;
    linker.func_wrap(WASI, "args_get", |mut c: Call<'_>, ptrs: i32, buf: i32| {
        let list = c.data().args.clone();
        strings(&mut c, &list, ptrs, buf)
    })?;
    linker.func_wrap(
        WASI,
        "environ_sizes_get",
        |mut c: Call<'_>, n: i32, size: i32| {
            let list = c.data().env.clone();
            sizes(&mut c, &list, n, size)
        },
    )?;
    linker.func_wrap(
        WASI,
        "environ_get",
        |mut c: Call<'_>, ptrs: i32, buf: i32| {
            let list = c.data().env.clone();
            strings(&mut c, &list, ptrs, buf)
        },
    )?;
    linker.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: Call<'_>, id: i32, _precision: i64, at: i32| {
            let nanos = if id == 0 {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            } else {
                c.data().started.elapsed().as_nanos() as u64
            };
            if memory_write(&mut c, at, &nanos.to_le_bytes()) {
                ERRNO_SUCCESS
            } else {
                ERRNO_INVAL
            }
        },
    )?;
    linker.func_wrap(WASI, "random_get", |mut c: Call<'_>, at: i32, len: i32| {
        let mut bytes = vec![0; len as u32 as usize];
        let ok = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .is_ok();
        if ok && memory_write(&mut c, at, &bytes) {
            ERRNO_SUCCESS
        } else {
            ERRNO_INVAL
        }
    })?;
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: Call<'_>, fd: i32, iovs: i32, count: i32, written_at: i32| {
            if fd != 1 && fd != 2 {
                return ERRNO_BADF;
            }
            let mut out = Vec::new();
            for i in 0..count {
                let Some(iov) = memory_read(&mut c, iovs + 8 * i, 8) else {
                    return ERRNO_INVAL;
                };
                let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                let len = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]) as usize;
                let Some(bytes) = memory_read(&mut c, ptr, len) else {
                    return ERRNO_INVAL;
                };
                out.extend_from_slice(&bytes);
            }
            let _ = if fd == 1 {
                std::io::stdout().write_all(&out)
            } else {
                std::io::stderr().write_all(&out)
            };
            if memory_write(&mut c, written_at, &(out.len() as u32).to_le_bytes()) {
                ERRNO_SUCCESS
            } else {
                ERRNO_INVAL
            }
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_fdstat_get",
        |mut c: Call<'_>, fd: i32, at: i32| {
            if !(0..=2).contains(&fd) {
                return ERRNO_BADF;
            }
            // filetype character_device (2), no flags, all rights.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            stat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            stat[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
            if memory_write(&mut c, at, &stat) {
                ERRNO_SUCCESS
            } else {
                ERRNO_INVAL
            }
        },
    )?;
    // No files: every other descriptor is unknown and no path exists.
    linker.func_wrap(WASI, "fd_prestat_get", |_: Call<'_>, _: i32, _: i32| {
        ERRNO_BADF
    })?;
    linker.func_wrap(
        WASI,
        "fd_prestat_dir_name",
        |_: Call<'_>, _: i32, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(WASI, "fd_close", |_: Call<'_>, _: i32| ERRNO_BADF)?;
    linker.func_wrap(WASI, "fd_filestat_get", |_: Call<'_>, _: i32, _: i32| {
        ERRNO_BADF
    })?;
    linker.func_wrap(
        WASI,
        "fd_read",
        |_: Call<'_>, _: i32, _: i32, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        WASI,
        "fd_seek",
        |_: Call<'_>, _: i32, _: i64, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        WASI,
        "path_open",
        |_: Call<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32, _: i32| {
            ERRNO_NOENT
        },
    )?;
    linker.func_wrap(
        WASI,
        "path_filestat_get",
        |_: Call<'_>, _: i32, _: i32, _: i32, _: i32, _: i32| ERRNO_NOENT,
    )?;
    linker.func_wrap(WASI, "sched_yield", |_: Call<'_>| ERRNO_SUCCESS)?;
    linker.func_wrap(
        WASI,
        "proc_exit",
        |mut c: Call<'_>, code: i32| -> wasmtime::Result<()> {
            c.data_mut().exit_code = Some(code);
            Err(wasmtime::Error::msg("proc_exit"))
        },
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: wasi-test-runner TEST.wasm [libtest arguments]");
        return ExitCode::from(2);
    };
    let engine = Engine::default();
    let module = match Module::from_file(&engine, &path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{path}: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut linker = Linker::new(&engine);
    if let Err(e) = link(&mut linker) {
        eprintln!("linking WASI: {e:#}");
        return ExitCode::from(2);
    }
    let mut argv = vec![path.clone().into_bytes()];
    argv.extend(args.map(String::into_bytes));
    let env = std::env::vars()
        .filter(|(k, _)| k.starts_with("JWTGATE_"))
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect();
    let ctx = Ctx {
        args: argv,
        env,
        exit_code: None,
        started: std::time::Instant::now(),
    };
    let mut store = Store::new(&engine, ctx);
    let result = linker
        .instantiate(&mut store, &module)
        .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
        .and_then(|start| start.call(&mut store, ()));
    match (result, store.data().exit_code) {
        (_, Some(code)) => ExitCode::from(code.clamp(0, 255) as u8),
        (Ok(()), None) => ExitCode::SUCCESS,
        (Err(e), None) => {
            eprintln!("{path}: trapped: {e:?}");
            ExitCode::from(101)
        }
    }
}

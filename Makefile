# jwtgate — every command a developer or CI needs. `make test` runs every test; `make run`
# starts the demo gateway. Both work on a fresh machine (rustup installs the pinned toolchain).

# Every recipe line runs in bash with -e, -u and pipefail: a failed command inside a pipeline
# (a build feeding the wasm test list) fails the target instead of hiding behind the pipe's end.
SHELL       := bash
.SHELLFLAGS := -eu -o pipefail -c

WASM        := target/jwtgate.wasm
CARGO_WASM  := target/wasm32-wasip1/release/jwtgate.wasm
WASM_OPTIMIZED := target/jwtgate.wasm.optimized
HOST_TARGET := $(CURDIR)/target/host
CORPUS      := target/corpus/cases.json
VENV_PY     := .venv/bin/python
export JWTGATE_WASM   := $(CURDIR)/$(WASM)
export JWTGATE_CORPUS := $(CURDIR)/$(CORPUS)

.PHONY: toolchain fmt lint-unbuilt build oci test-oci test test-core test-host test-crypto-wasm test-nginx nginx-module lint-nginx bench-nginx corpus lint run fuzz bench clean size schema

FUZZ_SECONDS ?= 60

# binaryen's wasm-opt: -Oz made the filter 15% smaller *and* faster here (BENCHMARKS.md). The
# features are the ones rustc's wasm32-wasip1 output uses (SIMD128: jwtgate-rsa's row kernel).
WASM_OPT_FLAGS := -Oz --enable-simd --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals

# The toolchain and wasm target rust-toolchain.toml pins, installed when missing: these machines
# set RUSTUP_AUTO_INSTALL=0, so rustup does not install it on first use.
TOOLCHAIN := $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
toolchain:
	@rustup target list --installed --toolchain $(TOOLCHAIN) 2>/dev/null | grep -x wasm32-wasip1 >/dev/null || rustup toolchain install

# Lint while compiling: cargo runs clippy-driver (rustc plus clippy's lints) for the workspace's
# own crates, as `cargo clippy` does (RUSTC_WORKSPACE_WRAPPER; CLIPPY_ARGS carries `-D warnings`
# as `cargo clippy -- -D warnings` would). So `make test`'s test builds are also its clippy
# passes and no dependency is compiled a second time in check mode (the separate check of
# tests/host's wasmtime and cranelift alone took minutes of a cold run). `make lint` still runs
# cargo clippy. Never for what ships (the filter, the NGINX module): clippy-driver turns MIR
# optimizations off, which made ES256 and ES384 in the filter twice as slow.
CLIPPY_DRIVER = $(or $(shell rustup which clippy-driver 2>/dev/null),$(error clippy-driver not found: rustup component add clippy))
WITH_CLIPPY   = RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) CLIPPY_ARGS=-Dwarnings
# tests/host (its own workspace, its own target directory), always with the same environment so
# that no invocation rebuilds another's wasmtime.
HOST_CARGO    = cd tests/host && CARGO_TARGET_DIR=$(HOST_TARGET) $(WITH_CLIPPY) cargo

## build: the release filter, target/jwtgate.wasm: cargo's output, then wasm-opt -Oz when binaryen
## is installed (.ci/run installs it)
build: toolchain
	cargo build --release --target wasm32-wasip1 --lib
	@# $(WASM_OPTIMIZED) marks a file wasm-opt made from the current cargo output: binaryen
	@# installed later still takes effect, and `make bench` can refuse an unoptimized filter.
	@if command -v wasm-opt >/dev/null 2>&1; then \
	  if [ ! -f $(WASM_OPTIMIZED) ] || [ $(CARGO_WASM) -nt $(WASM_OPTIMIZED) ]; then \
	    echo "wasm-opt: $$(stat -c %s $(CARGO_WASM)) bytes before"; \
	    wasm-opt $(WASM_OPT_FLAGS) $(CARGO_WASM) -o $(WASM) && touch $(WASM_OPTIMIZED); \
	  fi; \
	elif [ ! -f $(WASM) ] || [ $(CARGO_WASM) -nt $(WASM) ] || [ -f $(WASM_OPTIMIZED) ]; then \
	  echo "wasm-opt (binaryen) not found: the filter is not size-optimized"; \
	  cp $(CARGO_WASM) $(WASM); rm -f $(WASM_OPTIMIZED); \
	fi
	@echo "jwtgate.wasm: $$(stat -c %s $(WASM)) bytes ($(WASM))"

## oci: target/jwtgate.wasm as an OCI image Istio pulls (one tar+gzip layer holding plugin.wasm):
## the image layout target/oci/ and the same as one tar, target/jwtgate-oci.tar (reproducible)
oci: build
	python3 envoy/make_oci.py $(WASM) target/oci target/jwtgate-oci.tar

## test-oci: media types, the one layer holding exactly plugin.wasm = target/jwtgate.wasm,
## digests and sizes, reproducibility (tests/oci/check_oci.py)
test-oci: oci
	python3 tests/oci/check_oci.py $(WASM) target/oci target/jwtgate-oci.tar

## test: formatting, the wasm build, the PyJWT corpus, the workspace's tests with default and
## with no default features (+ corpus natively), the in-host tests (+ corpus in-host), the demo's
## self-test and the RSA and P-256 verifiers' tests as wasm, the native NGINX module inside
## Debian's nginx, the Istio OCI image, and the clippy passes no build covers (the builds above
## run clippy on every crate of ours they compile: WITH_CLIPPY) — everything `make lint` checks
test: toolchain fmt build corpus test-core test-host test-crypto-wasm test-nginx test-oci lint-unbuilt

test-core:
	$(WITH_CLIPPY) cargo test --workspace
	$(VENV_PY) tests/corpus/check_cli.py target/debug/jwtgate
	$(VENV_PY) tests/corpus/check_schema.py target/debug/jwtgate
	# The core without ES384/ES512 (and without the CLI's feature `cli`): its own tests again.
	$(WITH_CLIPPY) cargo test -p jwtgate-core --no-default-features

## nginx-module: the native dynamic module for the installed stock NGINX (Debian's nginx +
## nginx-dev): Debian's own configure arguments into target/nginx/build, then the crate
## crates/jwtgate-nginx against those headers, into target/nginx/ngx_http_jwtgate_module.so.
## Fails when nginx or nginx-dev is missing. The module only loads into the NGINX version it
## was built for.
NGINX_SRC    := /usr/share/nginx/src
NGINX_BUILD  := $(CURDIR)/target/nginx/build
NGINX_MODULE := target/nginx/ngx_http_jwtgate_module.so
NGINX_CARGO_TARGET := $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(CURDIR)/target)/nginx-module
NGINX_ENV    = cd crates/jwtgate-nginx && CARGO_TARGET_DIR=$(NGINX_CARGO_TARGET) \
  NGINX_SOURCE_DIR=$(NGINX_SRC) NGINX_BUILD_DIR=$(NGINX_BUILD)
NGINX_CARGO  = $(NGINX_ENV) $(WITH_CLIPPY) cargo
nginx-module: toolchain
	crates/jwtgate-nginx/configure-nginx.sh $(NGINX_BUILD)
	$(NGINX_ENV) cargo build --release --locked
	cp $(NGINX_CARGO_TARGET)/release/libjwtgate_nginx.so $(NGINX_MODULE)
	@echo "$(NGINX_MODULE): $$(stat -c %s $(NGINX_MODULE)) bytes, for $$(/usr/sbin/nginx -v 2>&1)"

lint-nginx: toolchain
	crates/jwtgate-nginx/configure-nginx.sh $(NGINX_BUILD)
	cd crates/jwtgate-nginx && cargo fmt -- --check
	$(NGINX_CARGO) clippy --locked --all-targets -- -D warnings

## test-nginx: the module's unit tests, then the module inside /usr/sbin/nginx: the PyJWT corpus,
## managed headers in every spelling on the wire, variables, broken configurations (`nginx -t`),
## reloads; then remote_jwks, ext_auth and introspection against a local IdP and auth service with two workers
## (nginx_remote.py, ~25 s: it waits out a 10 s cache_duration). Fails (never skips) when nginx
## or nginx-dev is missing.
test-nginx: nginx-module corpus
	cd crates/jwtgate-nginx && cargo fmt -- --check
	$(NGINX_CARGO) test --locked
	$(VENV_PY) crates/jwtgate-nginx/tests/nginx_module.py $(NGINX_MODULE) $(CORPUS)
	$(VENV_PY) crates/jwtgate-nginx/tests/nginx_remote.py $(NGINX_MODULE)

## schema: regenerate Kong's nginx-wasm/jwtgate.meta.json from the configuration types
schema:
	cargo run --quiet -p jwtgate-cli --bin jwtgate -- schema --kong > nginx-wasm/jwtgate.meta.json

## corpus: keys and tokens from PyJWT (an independent implementation) into target/corpus/
corpus:
	bash tests/corpus/setup.sh
	mkdir -p $(dir $(CORPUS))
	$(VENV_PY) tests/corpus/gen.py $(CORPUS)

## test-host: the built jwtgate.wasm inside proxy-wasm-host (a third-party host on wasmtime)
test-host:
	$(HOST_CARGO) test --release
	$(HOST_CARGO) run --release --quiet --bin jwtgate-demo -- --self-test --listen 127.0.0.1:0

## test-crypto-wasm: crates/jwtgate-rsa's and crates/jwtgate-p256's tests compiled to
## wasm32-wasip1 and run under wasmtime (tests/host's wasi-test-runner) and under V8 (Node's WASI;
## .ci/run installs Node): the SIMD128 kernel exists only in the wasm build, and the RSA and the
## P-256/P-384/P-521 verifiers meet Wycheproof, the bit flips and the differential comparisons
## (against rsa, p256, p384, p521) in both engines
test-crypto-wasm: corpus
	$(HOST_CARGO) build --release --quiet --bin wasi-test-runner
	cargo test -p jwtgate-rsa -p jwtgate-p256 --target wasm32-wasip1 --no-run --message-format=json \
	  | $(VENV_PY) -c 'import sys, json; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("executable") and "example" not in m["target"]["kind"]]' \
	  > target/crypto-wasm-tests.txt
	test -s target/crypto-wasm-tests.txt
	export JWTGATE_RSA_FIXTURE="$$($(VENV_PY) -c 'import json; print(json.dumps(json.load(open("$(CORPUS)"))["rsa"]))')"; \
	for t in $$(cat target/crypto-wasm-tests.txt); do \
	  echo "wasm (wasmtime): $$t"; $(HOST_TARGET)/release/wasi-test-runner $$t --test-threads=1 || exit 1; \
	  if command -v node >/dev/null; then echo "wasm (V8, node $$(node --version)): $$t"; \
	    node --no-warnings tests/bench/wasi-run.mjs $$t --test-threads=1 || exit 1; \
	  elif [ -n "$${CI:-}" ]; then echo "node not found: CI must run the wasm tests under V8"; exit 1; \
	  else echo "node not found: skipping the V8 run"; fi; \
	done

## lint: rustfmt and clippy -D warnings for the workspace (default and no default features, native
## and wasm), tests/host (its release build's target directory) and tests/fuzz (the fuzz targets
## as plain binaries: libfuzzer-sys builds on stable; running them needs nightly, `make fuzz`)
lint: fmt lint-unbuilt
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p jwtgate-core --all-targets --no-default-features -- -D warnings
	$(HOST_CARGO) clippy --release --all-targets -- -D warnings
	cargo clippy --release --target wasm32-wasip1 --workspace --lib -- -D warnings

fmt:
	cargo fmt --all -- --check
	cargo fmt --all --manifest-path tests/host/Cargo.toml -- --check
	cargo fmt --all --manifest-path tests/fuzz/Cargo.toml -- --check

## lint-unbuilt: clippy for what no `make test` build lints: tests/fuzz (without libFuzzer's
## C++, feature link_libfuzzer), the filter (built without clippy-driver: see WITH_CLIPPY) with
## and without ES384/ES512, the portable RSA kernel
lint-unbuilt:
	CARGO_TARGET_DIR=$(CURDIR)/target/fuzz cargo clippy --manifest-path tests/fuzz/Cargo.toml --all-targets --no-default-features -- -D warnings
	cargo clippy --release --target wasm32-wasip1 --lib -- -D warnings
	cargo clippy --release --target wasm32-wasip1 --lib --no-default-features -- -D warnings
	cargo clippy --release --target wasm32-wasip1 -p jwtgate-rsa --features portable -- -D warnings

## run: the demo gateway on 127.0.0.1:8080 running the real jwtgate.wasm
run: build
	$(HOST_CARGO) run --release --bin jwtgate-demo -- $(ARGS)

## fuzz: each cargo-fuzz target for FUZZ_SECONDS (nightly); seeds in tests/fuzz/seeds
fuzz:
	command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
	for t in token config request rsa_differential p256_differential; do \
	  mkdir -p tests/fuzz/corpus/$$t && \
	  cargo +nightly fuzz run --fuzz-dir tests/fuzz -O $$t tests/fuzz/corpus/$$t tests/fuzz/seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -rss_limit_mb=1024 -print_final_stats=1 || exit 1; \
	done

## bench-nginx: the native module inside Debian's nginx under wrk (1 worker): requests per second
## as ratios to no auth on the same nginx (auth_request, HS256, RS256, new RS256/ES256 tokens),
## into target/bench/nginx.md (tests/bench/nginx_bench.py). Fails when wrk is missing.
bench-nginx: nginx-module
	@command -v wrk >/dev/null || { echo "make bench-nginx: wrk not found (apt-get install wrk)"; exit 1; }
	bash tests/corpus/setup.sh >/dev/null
	$(VENV_PY) tests/bench/nginx_bench.py $(NGINX_MODULE) target/bench/nginx.md

## bench: one run, one table (OpenSSL via Python, core natively, jwtgate.wasm in-host; the native
## NGINX module under wrk), into BENCHMARKS.md
bench: build bench-nginx
	@test -f $(WASM_OPTIMIZED) || { echo "make bench: $(WASM) is not wasm-opt's output (install binaryen): refusing to write BENCHMARKS.md from an unoptimized filter"; exit 1; }
	bash tests/corpus/setup.sh >/dev/null
	$(VENV_PY) tests/bench/tokens.py target/bench/tokens.json 300
	cargo build --release --quiet --target wasm32-wasip1 -p jwtgate-rsa --example rsa_speed
	cargo build --release --quiet --target wasm32-wasip1 -p jwtgate-p256 --example ecdsa_speed
	CARGO_TARGET_DIR=target/portable cargo build --release --quiet --target wasm32-wasip1 -p jwtgate-rsa --features portable --example rsa_speed
	$(HOST_CARGO) build --profile host-bench --quiet --bin wasi-test-runner
	$(HOST_CARGO) build --profile host-bench --quiet --bin jwtgate-bench
	@# Heap allocations per request on the core's request path (the test's table; natively)
	cargo test --quiet -p jwtgate-core --test allocations -- --nocapture > target/bench/allocations.out
	{ echo "## Allocations per request on the core's request path (crates/jwtgate-core/tests/allocations.rs, native)"; echo; \
	  grep '^|' target/bench/allocations.out; } > target/bench/allocations.md
	cd tests/host && JWTGATE_RSA_SPEED_WASM=$(CURDIR)/target/wasm32-wasip1/release/examples/rsa_speed.wasm \
	  JWTGATE_RSA_SPEED_WASM_PORTABLE=$(CURDIR)/target/portable/wasm32-wasip1/release/examples/rsa_speed.wasm \
	  JWTGATE_ECDSA_SPEED_WASM=$(CURDIR)/target/wasm32-wasip1/release/examples/ecdsa_speed.wasm \
	  JWTGATE_WASI_RUNNER=$(HOST_TARGET)/host-bench/wasi-test-runner JWTGATE_NODE_WASI=$(CURDIR)/tests/bench/wasi-run.mjs \
	  $(HOST_TARGET)/host-bench/jwtgate-bench > $(CURDIR)/target/bench/table.md
	{ echo "# jwtgate benchmarks"; echo; echo "One run of \`make bench\` on $$(nproc) cores ($$(uname -m), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $$(date -u +%Y-%m-%d)."; \
	  echo "Medians of 7 rounds (min–max). OpenSSL is timed through Python \`cryptography\`, so it includes ~1–2 µs of call overhead."; \
	  echo "What was tried on the RSA kernel, with its numbers: crates/jwtgate-rsa/MEASUREMENTS.md."; echo; \
	  cat target/bench/table.md; echo; cat target/bench/allocations.md; echo; cat target/bench/nginx.md; } > BENCHMARKS.md
	cat BENCHMARKS.md

## size: the release filter's size, without the optional ES384/ES512 families, and its top
## crates by code size
size: build
	@ls -l $(WASM)
	CARGO_TARGET_DIR=target/size-min cargo build --release --target wasm32-wasip1 --lib --no-default-features
	@if command -v wasm-opt >/dev/null 2>&1; then wasm-opt $(WASM_OPT_FLAGS) target/size-min/wasm32-wasip1/release/jwtgate.wasm -o target/size-min/jwtgate-min.wasm; \
	  else cp target/size-min/wasm32-wasip1/release/jwtgate.wasm target/size-min/jwtgate-min.wasm; fi
	@echo "without es384/es512: $$(stat -c %s target/size-min/jwtgate-min.wasm) bytes"
	@# Where the bytes are: an unstripped build's function bodies by crate (tests/bench/wasm_size.py).
	CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=target/size-names cargo build --release --target wasm32-wasip1 --lib
	python3 tests/bench/wasm_size.py target/size-names/wasm32-wasip1/release/jwtgate.wasm 20

clean:
	cargo clean

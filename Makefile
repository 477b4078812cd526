# jwtgate — every command a developer or CI needs. `make test` runs every test; `make run`
# starts the demo gateway. Both work on a fresh machine (rustup installs the pinned toolchain).

WASM        := target/wasm32-wasip1/release/jwtgate.wasm
HOST_TARGET := $(CURDIR)/target/host
CORPUS      := target/corpus/cases.json
VENV_PY     := .venv/bin/python
export JWTGATE_WASM   := $(CURDIR)/$(WASM)
export JWTGATE_CORPUS := $(CURDIR)/$(CORPUS)

.PHONY: build test test-core test-host corpus lint run fuzz bench clean size schema

FUZZ_SECONDS ?= 60

## build: the release filter, target/wasm32-wasip1/release/jwtgate.wasm
build:
	cargo build --release --target wasm32-wasip1 --lib
	@echo "jwtgate.wasm: $$(stat -c %s $(WASM)) bytes"

## test: lint, the wasm build, the PyJWT corpus, core unit tests (+ corpus natively), the in-host
## tests (+ corpus in-host) and the demo's self-test
test: lint build corpus test-core test-host

test-core:
	cargo test
	$(VENV_PY) tests/corpus/check_cli.py target/debug/jwtgate
	$(VENV_PY) tests/corpus/check_schema.py target/debug/jwtgate

## schema: regenerate Kong's nginx-wasm/jwtgate.meta.json from the configuration types
schema:
	cargo run --quiet --bin jwtgate -- schema --kong > nginx-wasm/jwtgate.meta.json

## corpus: keys and tokens from PyJWT (an independent implementation) into target/corpus/
corpus:
	bash tests/corpus/setup.sh
	mkdir -p $(dir $(CORPUS))
	$(VENV_PY) tests/corpus/gen.py $(CORPUS)

## test-host: the built jwtgate.wasm inside proxy-wasm-host (a third-party host on wasmtime)
test-host:
	cd tests/host && CARGO_TARGET_DIR=$(HOST_TARGET) cargo test --release
	cd tests/host && CARGO_TARGET_DIR=$(HOST_TARGET) cargo run --release --quiet --bin jwtgate-demo -- --self-test --listen 127.0.0.1:0

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target wasm32-wasip1 --lib -- -D warnings

## run: the demo gateway on 127.0.0.1:8080 running the real jwtgate.wasm
run: build
	cd tests/host && CARGO_TARGET_DIR=$(HOST_TARGET) cargo run --release --bin jwtgate-demo -- $(ARGS)

## fuzz: each cargo-fuzz target for FUZZ_SECONDS (nightly); seeds in tests/fuzz/seeds
fuzz:
	command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
	for t in token config request; do \
	  mkdir -p tests/fuzz/corpus/$$t && \
	  cargo +nightly fuzz run --fuzz-dir tests/fuzz -O $$t tests/fuzz/corpus/$$t tests/fuzz/seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -rss_limit_mb=1024 -print_final_stats=1 || exit 1; \
	done

## bench: one run, one table (OpenSSL via Python, core natively, jwtgate.wasm in-host), into BENCHMARKS.md
bench: build
	bash tests/corpus/setup.sh >/dev/null
	$(VENV_PY) tests/bench/tokens.py target/bench/tokens.json 300
	cd tests/host && CARGO_TARGET_DIR=$(HOST_TARGET) cargo run --release --quiet --bin jwtgate-bench > $(CURDIR)/target/bench/table.md
	{ echo "# jwtgate benchmarks"; echo; echo "One run of \`make bench\` on $$(nproc) cores ($$(uname -m), $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $$(date -u +%Y-%m-%d)."; \
	  echo "Medians of 7 rounds (min–max). OpenSSL is timed through Python \`cryptography\`, so it includes ~1–2 µs of call overhead."; echo; \
	  cat target/bench/table.md; } > BENCHMARKS.md
	cat BENCHMARKS.md

size: build
	@ls -l $(WASM)

clean:
	cargo clean

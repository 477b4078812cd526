// Runs a wasm32-wasip1 command module under V8 (Node's node:wasi): `node wasi-run.mjs X.wasm ARGS`.
// make bench times jwtgate-rsa there, and make test runs its wasm tests there, next to wasmtime.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, env, exit } from 'node:process';
const wasi = new WASI({ version: 'preview1', args: argv.slice(2), env, preopens: { '/': '/' }, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));

#!/usr/bin/env bash
# Creates the repository's .venv with PyJWT + cryptography (an independent JWT implementation;
# h2: the native module's HTTP/2 test client)
# if it is missing or incomplete. Idempotent; prints the venv's python.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv"
if ! "$venv/bin/python" -c 'import jwt, cryptography, jsonschema, h2' >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$root/tests/corpus/requirements.txt"
fi
echo "$venv/bin/python"

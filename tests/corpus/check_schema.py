"""Kong's jwtgate.meta.json, checked by an independent JSON Schema implementation (Python
`jsonschema`, Draft 4 as Kong uses): the schema is valid Draft 4, every shipped example
configuration validates, and misspelled or mistyped fields are refused (as the filter refuses
them).

With a path to the jwtgate CLI, also runs `jwtgate check` on every example.

usage: check_schema.py [path/to/jwtgate] (from the repository root)
"""
import json
import os
import re
import subprocess
import sys
import tempfile

from jsonschema import Draft4Validator


def examples():
    readme = open("README.md").read()
    for block in readme.split("```json")[1:]:
        text = block.split("```")[0]
        if text.lstrip().startswith(('{"providers"', '{"ext_auth"')) and "…" not in text:
            yield "README.md", json.loads(text)
    yaml = open("envoy/envoy.yaml").read()
    start = yaml.index("value: |")
    indent = len(yaml[:start].rsplit("\n", 1)[1])
    lines = []
    for line in yaml[start:].split("\n")[1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        lines.append(line)
    yield "envoy/envoy.yaml", json.loads("\n".join(lines))
    for path, key in [("envoy/wasmplugin.yaml", "pluginConfig:"),
                      ("envoy/trafficextension.yaml", "pluginConfig:"),
                      ("nginx-wasm/kong.yaml", "config:")]:
        for line in open(path):
            if line.strip().startswith(key):
                yield path, json.loads(line.strip()[len(key):])
    for line in open("nginx-wasm/nginx.conf"):
        m = re.match(r"\s*proxy_wasm jwtgate '(.*)';", line)
        if m:
            yield "nginx-wasm/nginx.conf", json.loads(m.group(1))
    yield "demo", json.load(open("tests/host/demo/demo-config.json"))


BAD = [
    {"providerz": {}},
    {"providers": {"p": {"isuser": "x"}}},
    {"providers": {"p": {"audiences": "api"}}},
    {"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://x/", "clutser": "c"}}}}},
    {"rules": [{"match": {"prefix": "/"}, "requires": {"provider_nme": "p"}}]},
    {"rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [{"x": 1}]}}}]},
    {"ext_auth": {"a": {"http_uri": {"uri": "http://a/"}, "failure_mode_allow": "yes"}}},
    {"max_token_bytes": "big"},
]


def main():
    schema = json.load(open("nginx-wasm/jwtgate.meta.json"))["config_schema"]
    Draft4Validator.check_schema(schema)
    validator = Draft4Validator(schema)
    count = 0
    cli = sys.argv[1] if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as d:
        for where, config in examples():
            errors = list(validator.iter_errors(config))
            assert not errors, f"{where}: {errors[0].message} at {list(errors[0].path)}"
            if cli:
                path = os.path.join(d, f"example-{count}.json")
                with open(path, "w") as f:
                    json.dump(config, f)
                run = subprocess.run([cli, "check", path], capture_output=True, text=True)
                assert run.returncode == 0, f"jwtgate check refused {where}: {run.stderr}"
            count += 1
    for config in BAD:
        assert list(validator.iter_errors(config)), f"schema accepted {config}"
    print(f"jwtgate.meta.json: valid Draft 4; {count} example configurations pass"
          f"{' it and `jwtgate check`' if cli else ''}, {len(BAD)} bad ones fail")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What the filter's bytes are: function body sizes from a wasm module's `name` section (an
unstripped build), summed by crate, plus the data segments. Stdlib only.

usage: wasm_size.py UNSTRIPPED.wasm [TOP]
"""
import re
import sys
from collections import defaultdict


def leb(b, i):
    result = shift = 0
    while True:
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def sections(b):
    i = 8
    while i < len(b):
        sid = b[i]
        size, i = leb(b, i + 1)
        yield sid, b[i : i + size]
        i += size


def crate_of(name):
    """The crate a (legacy-mangled) symbol's code belongs to: for `<T as Trait>::f` the crate
    of T, where the monomorphized code comes from."""
    m = re.search(r"ZN(\d+)", name)
    if not m:
        return re.split(r"::|\.\.|\$", name.lstrip("_<&"), maxsplit=1)[0] or "?"
    start = m.end()
    segment = name[start : start + int(m.group(1))]
    segment = re.sub(r"^(_|\$LT\$|\$RF\$|\$BP\$|\$u5b\$|mut\$u20\$)+", "", segment)
    return re.split(r"\.\.|\$", segment, maxsplit=1)[0] or "?"


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    b = open(path, "rb").read()
    imported = 0
    bodies = []
    names = {}
    data = 0
    for sid, payload in sections(b):
        if sid == 2:  # imports: functions among them shift the function index space
            count, i = leb(payload, 0)
            for _ in range(count):
                for _ in range(2):
                    n, i = leb(payload, i)
                    i += n
                kind = payload[i]
                i += 1
                if kind == 0:
                    imported += 1
                    _, i = leb(payload, i)
                elif kind == 1:
                    i += 1
                    flags, i = leb(payload, i)
                    _, i = leb(payload, i)
                    if flags & 1:
                        _, i = leb(payload, i)
                elif kind == 2:
                    flags, i = leb(payload, i)
                    _, i = leb(payload, i)
                    if flags & 1:
                        _, i = leb(payload, i)
                else:
                    i += 2
        elif sid == 10:
            count, i = leb(payload, 0)
            for _ in range(count):
                size, i = leb(payload, i)
                bodies.append(size)
                i += size
        elif sid == 11:
            data = len(payload)
        elif sid == 0:
            n, i = leb(payload, 0)
            if payload[i : i + n] != b"name":
                continue
            i += n
            while i < len(payload):
                sub = payload[i]
                size, i = leb(payload, i + 1)
                if sub == 1:
                    j = i
                    count, j = leb(payload, j)
                    for _ in range(count):
                        idx, j = leb(payload, j)
                        ln, j = leb(payload, j)
                        names[idx] = payload[j : j + ln].decode("utf-8", "replace")
                        j += ln
                i += size
    if not names:
        sys.exit(f"{path}: no name section (build with CARGO_PROFILE_RELEASE_STRIP=false)")
    by_crate = defaultdict(int)
    for k, size in enumerate(bodies):
        by_crate[crate_of(names.get(imported + k, "?"))] += size
    total = sum(bodies)
    print(f"{path}: {len(b)} bytes unstripped and unoptimized; code {total}, data {data}")
    print(f"{'bytes':>8}  {'share':>5}  crate (function bodies)")
    for crate, size in sorted(by_crate.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{size:>8}  {100 * size / total:4.1f}%  {crate}")


if __name__ == "__main__":
    main()

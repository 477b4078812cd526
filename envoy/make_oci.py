#!/usr/bin/env python3
"""`make oci`: jwtgate.wasm as an OCI image Istio's WasmPlugin / TrafficExtension pulls.

    python3 envoy/make_oci.py target/jwtgate.wasm target/oci target/jwtgate-oci.tar [--tag TAG]

Writes an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`) and the same
layout as one tar file (an "oci-archive"). The image is the *compat* variant Istio's image
fetcher (`pkg/wasm/imagefetcher.go`) unpacks: an OCI image manifest whose last (and only) layer
is `application/vnd.oci.image.layer.v1.tar+gzip`, a tar.gz holding the single file `plugin.wasm`.

Reproducible: the tar entries have mtime 0, uid/gid 0, no user names, fixed modes; the gzip
header has mtime 0 and no file name; JSON is written with sorted keys. The same jwtgate.wasm
gives the same manifest digest (with the same zlib).

Standard library only. The tag (`org.opencontainers.image.ref.name` in index.json) defaults to
the crate version in Cargo.toml.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def crate_version():
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        text = f.read()
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M)
    if not match:
        sys.exit("make_oci.py: no [package] version in Cargo.toml (give --tag)")
    return match.group(1)


def tar_bytes(members):
    """A reproducible tar of (name, bytes, mode) entries, in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def json_bytes(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type, data, **extra):
    return dict(mediaType=media_type, digest=sha256(data), size=len(data), **extra)


def build(wasm, tag):
    """The layout's files: {relative path: bytes}, and the manifest's descriptor."""
    layer_tar = tar_bytes([("plugin.wasm", wasm, 0o644)])
    layer = gzip_bytes(layer_tar)
    config = json_bytes(
        {
            # Go's GOOS/GOARCH for WASI preview 1 (the image-spec's convention); Istio does not
            # select by platform for a single manifest.
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        }
    )
    manifest = json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": descriptor(CONFIG_MEDIA_TYPE, config),
            "layers": [descriptor(LAYER_MEDIA_TYPE, layer)],
        }
    )
    manifest_descriptor = descriptor(MANIFEST_MEDIA_TYPE, manifest, annotations={REF_NAME: tag})
    index = json_bytes(
        {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [manifest_descriptor]}
    )
    files = {"oci-layout": json_bytes({"imageLayoutVersion": "1.0.0"}), "index.json": index}
    for blob in (layer, config, manifest):
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    return files, manifest_descriptor


def write_layout(files, out_dir):
    """Replaces out_dir with exactly these files (no blob of an older build stays behind)."""
    tmp = out_dir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for path, data in sorted(files.items()):
        full = os.path.join(tmp, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)


def archive_bytes(files):
    """The layout as one tar (skopeo's `oci-archive:`), directories first, then sorted files."""
    members = [("blobs/", None, 0o755), ("blobs/sha256/", None, 0o755)]
    members += [(path, data, 0o644) for path, data in sorted(files.items())]
    return tar_bytes(members)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wasm")
    parser.add_argument("out_dir")
    parser.add_argument("archive")
    parser.add_argument("--tag", help="index.json's ref name (default: the crate version)")
    args = parser.parse_args()
    with open(args.wasm, "rb") as f:
        wasm = f.read()
    if wasm[:4] != b"\0asm":
        sys.exit(f"make_oci.py: {args.wasm} is not a wasm module")
    tag = args.tag or crate_version()
    files, manifest = build(wasm, tag)
    write_layout(files, args.out_dir)
    tmp = args.archive + ".tmp"
    with open(tmp, "wb") as f:
        f.write(archive_bytes(files))
    os.replace(tmp, args.archive)
    print(f"{args.out_dir}: OCI image layout, tag {tag}, manifest {manifest['digest']}")
    print(f"{args.archive}: the same layout as one tar (oci-archive)")
    print("push it (replace ghcr.io/acme/jwtgate):")
    print(f"  oras cp --from-oci-layout {args.out_dir}:{tag} ghcr.io/acme/jwtgate:{tag}")
    print(f"  skopeo copy oci:{args.out_dir}:{tag} docker://ghcr.io/acme/jwtgate:{tag}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`make test-oci`: checks `make oci`'s image layout against the rules Istio's image fetcher
(`pkg/wasm/imagefetcher.go`, the "compat" variant) and the OCI image-layout spec set.

    python3 tests/oci/check_oci.py target/jwtgate.wasm target/oci target/jwtgate-oci.tar

- `oci-layout` is {"imageLayoutVersion": "1.0.0"}; `index.json` is an image index with exactly
  one image manifest tagged by `org.opencontainers.image.ref.name` (what `skopeo copy
  oci:DIR:TAG` and `oras cp --from-oci-layout DIR:TAG` resolve);
- every descriptor's digest and size match its blob, and `blobs/sha256/` holds nothing else;
- the manifest and config media types are OCI's, the config names architecture and os and its
  `rootfs.diff_ids` is the uncompressed layer's digest;
- exactly one layer, `application/vnd.oci.image.layer.v1.tar+gzip`, whose tar holds exactly one
  regular file, `plugin.wasm`, with the bytes of jwtgate.wasm;
- reproducible: gzip mtime 0, tar mtimes/uids/gids 0, and building again gives identical files;
- the tarball holds exactly the layout's files with the same bytes.
Standard library only.
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_OCI = os.path.join(HERE, "..", "..", "envoy", "make_oci.py")
ISTIO_LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def read(path):
    with open(path, "rb") as f:
        return f.read()


def layout_files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = read(full)
    return out


def blob(root, desc, what):
    """The blob a descriptor names, after checking its digest and size."""
    algo, _, hexdigest = desc["digest"].partition(":")
    check(algo == "sha256" and len(hexdigest) == 64, f"{what}: digest is sha256 ({desc['digest']})")
    path = os.path.join(root, "blobs", "sha256", hexdigest)
    if not check(os.path.isfile(path), f"{what}: blob {path} exists"):
        sys.exit(1)
    data = read(path)
    check(hashlib.sha256(data).hexdigest() == hexdigest, f"{what}: blob's sha256 is its digest")
    check(len(data) == desc["size"], f"{what}: size {desc['size']} is the blob's length")
    return data


def main():
    wasm_path, root, archive = sys.argv[1:4]
    wasm = read(wasm_path)

    check(json.loads(read(os.path.join(root, "oci-layout"))) == {"imageLayoutVersion": "1.0.0"},
          "oci-layout is imageLayoutVersion 1.0.0")
    index = json.loads(read(os.path.join(root, "index.json")))
    check(index.get("schemaVersion") == 2, "index.json: schemaVersion 2")
    check(index.get("mediaType") == "application/vnd.oci.image.index.v1+json",
          "index.json: OCI image index media type")
    manifests = index.get("manifests", [])
    if not check(len(manifests) == 1, "index.json: exactly one manifest"):
        sys.exit(1)
    mdesc = manifests[0]
    check(mdesc["mediaType"] == "application/vnd.oci.image.manifest.v1+json",
          "index.json: the manifest's media type is OCI's image manifest")
    tag = mdesc.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    check(bool(tag), f"index.json: the manifest is tagged ({tag!r}) for skopeo/oras")

    manifest = json.loads(blob(root, mdesc, "manifest"))
    check(manifest.get("schemaVersion") == 2, "manifest: schemaVersion 2")
    check(manifest.get("mediaType") == "application/vnd.oci.image.manifest.v1+json",
          "manifest: mediaType is OCI's image manifest")
    check(manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json",
          "manifest: config media type is OCI's image config")
    config = json.loads(blob(root, manifest["config"], "config"))
    check(isinstance(config.get("architecture"), str) and isinstance(config.get("os"), str),
          f"config: architecture {config.get('architecture')!r}, os {config.get('os')!r}")

    layers = manifest.get("layers", [])
    if not check(len(layers) == 1, "manifest: exactly one layer"):
        sys.exit(1)
    ldesc = layers[-1]
    check(ldesc["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip",
          "layer: application/vnd.oci.image.layer.v1.tar+gzip")
    check(ldesc["mediaType"] in ISTIO_LAYER_TYPES, "layer: a type Istio's compat variant unpacks")
    layer = blob(root, ldesc, "layer")
    check(layer[:3] == b"\x1f\x8b\x08", "layer: gzip")
    check(layer[4:8] == b"\0\0\0\0", "layer: gzip header mtime 0")
    layer_tar = gzip.decompress(layer)
    check(config.get("rootfs") == {"type": "layers",
                                   "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
          "config: rootfs.diff_ids is the uncompressed layer's digest")
    with tarfile.open(fileobj=io.BytesIO(layer_tar), mode="r:") as tar:
        members = tar.getmembers()
        check([m.name for m in members] == ["plugin.wasm"], "layer: the tar holds exactly plugin.wasm")
        m = members[0]
        check(m.isfile(), "layer: plugin.wasm is a regular file")
        check((m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", ""),
              "layer: fixed mtime/uid/gid, no user names")
        check(tar.extractfile(m).read() == wasm, f"layer: plugin.wasm is {wasm_path} byte for byte")

    referenced = {d["digest"].split(":", 1)[1] for d in (mdesc, manifest["config"], ldesc)}
    present = set(os.listdir(os.path.join(root, "blobs", "sha256")))
    check(present == referenced, "blobs/sha256 holds exactly the three referenced blobs")
    files = layout_files(root)
    check(set(files) == {"oci-layout", "index.json"} | {"blobs/sha256/" + h for h in referenced},
          "the layout holds nothing else")

    with tarfile.open(archive, mode="r:") as tar:
        archived = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        check(all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in tar.getmembers()),
              f"{archive}: fixed mtimes/uids/gids")
    check(archived == files, f"{archive}: exactly the layout's files, same bytes")

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, MAKE_OCI, wasm_path, os.path.join(tmp, "oci"),
                        os.path.join(tmp, "oci.tar"), "--tag", tag],
                       check=True, stdout=subprocess.DEVNULL)
        check(layout_files(os.path.join(tmp, "oci")) == files,
              "reproducible: building again gives identical files (same manifest digest)")
        check(read(os.path.join(tmp, "oci.tar")) == read(archive), "reproducible: identical tarball")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print(f"OCI image {mdesc['digest']} (tag {tag}): every check passed")


if __name__ == "__main__":
    main()

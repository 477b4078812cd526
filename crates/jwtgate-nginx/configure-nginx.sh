#!/usr/bin/env bash
# Runs Debian's NGINX `configure` (from the installed nginx-dev package, /usr/share/nginx/src) with
# the distribution's own arguments (conf_flags, --with-compat) into a build directory of ours, so
# the ngx crate's bindings and the module match the installed /usr/sbin/nginx. Only the build
# directory is written; the source tree stays read-only. Usage: configure-nginx.sh BUILDDIR
set -euo pipefail
builddir=$(realpath -m "${1:?usage: configure-nginx.sh BUILDDIR}")
src=${NGINX_SOURCE_DIR:-/usr/share/nginx/src}
missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -f "$src/conf_flags" ] && [ -x "$src/configure" ] || missing+=(nginx-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "error: ${missing[*]} not installed: apt-get install nginx nginx-dev libclang-dev clang libpcre2-dev zlib1g-dev libssl-dev pkg-config" >&2
  exit 1
fi
version=$(/usr/sbin/nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
src_version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$src/src/core/nginx.h")
if [ "$version" != "$src_version" ]; then
  echo "error: /usr/sbin/nginx is $version but nginx-dev is $src_version: install matching packages" >&2
  exit 1
fi
stamp="$builddir/.configured-$version"
if [ -f "$stamp" ] && [ -f "$builddir/ngx_auto_config.h" ]; then exit 0; fi
mkdir -p "$builddir"
cd "$src"
# shellcheck disable=SC1091
. ./conf_flags
./configure --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)" \
  --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC" "${NGX_CONF_FLAGS[@]}" \
  --builddir="$builddir" > "$builddir.configure.log" 2>&1 \
  || { cat "$builddir.configure.log" >&2; exit 1; }
touch "$stamp"
echo "configured nginx $version into $builddir"

#!/usr/bin/env bash
# Builds the blog's Docker image on a machine that cannot pull images and
# cannot download crates inside `docker build` (the project's CI machines).
#
# On a laptop with internet you do not need this script:
#
#     docker build -t blog:0.1.0 .
#
# does the same, with the very same Dockerfile. This script only supplies
# what that command would download:
#
# 1. Base images. For every image the Dockerfile builds FROM that is missing,
#    it makes a local stand-in under the same name, so the Dockerfile stays
#    unchanged (see make_builder_base and make_runtime_base for what each
#    one replaces and how close it is). It also makes `busybox:latest`, the
#    small image chapter 7's exercises run.
# 2. Crates. It copies the repository into a throwaway build context (all
#    that `.dockerignore` keeps), vendors every crate of Cargo.lock into it
#    with `cargo vendor`, and adds to the copy's .cargo/config.toml the
#    source replacement that makes cargo use them instead of crates.io.
#    Nothing in the repository itself changes.
# 3. `docker build` of that context with the repository's Dockerfile (the
#    classic builder, which uses local images and never pulls).
#
# Re-runs are fast: stand-ins are made only when missing, the vendored crates
# are refreshed only when a manifest or the lock file changes, and Docker's
# layer cache keeps the compiled dependencies.
#
# Usage: scripts/docker-offline-build.sh [-t TAG] [-f DOCKERFILE] [--build-arg KEY=VALUE]...
#                                        [--label KEY=VALUE]... [--bases-only]
#   -t TAG         the image to build (default blog:0.1.0)
#   -f DOCKERFILE  another Dockerfile, built with the repository as context
#                  (chapter 8's exercise builds the learner's copy this way)
#   --build-arg, --label
#                  passed on to `docker build` as they are (`cargo workbook
#                  image --mine` chooses your services with
#                  --build-arg BLOG_FEATURES=mine-posts,...)
#   --bases-only   only make the base images (and busybox), build nothing
# Environment: WORKBOOK_DOCKER_CACHE, where it keeps the root filesystems of
# the stand-ins and the build context (default target/docker-offline).
# Needs: docker, and for the stand-ins debootstrap, busybox-static, apt-get
# and the host's Rust toolchain (the version the Dockerfile names).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=blog:0.1.0
DOCKERFILE=$ROOT/Dockerfile
BASES_ONLY=false
BUILD_OPTIONS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) TAG=$2; shift 2 ;;
    -f) DOCKERFILE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --build-arg|--label) BUILD_OPTIONS+=("$1" "$2"); shift 2 ;;
    --bases-only) BASES_ONLY=true; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
CACHE=${WORKBOOK_DOCKER_CACHE:-$ROOT/target/docker-offline}
mkdir -p "$CACHE"

say() { printf '[docker-offline] %s\n' "$*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# The stand-in for the official Rust image (`rust:<version>-slim-bookworm`):
# Debian bookworm (minbase) with gcc and libc6-dev, as in the real image
# (rusqlite compiles the bundled SQLite with gcc, and gcc links), plus this
# machine's own Rust toolchain copied in, because no toolchain can be
# downloaded here. Paths and variables are the official image's:
# RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo, cargo on PATH.
make_builder_base() {
  local name=$1 rootfs=$CACHE/rootfs-builder
  local want have sysroot toolchain
  want=$(printf '%s\n' "$name" | sed -n 's/^rust:\([0-9][0-9.]*\).*/\1/p')
  have=$(rustc --version | awk '{print $2}')
  case "$have" in
    "$want"|"$want".*) ;;
    *) echo "the Dockerfile wants Rust $want but this machine has $have: cannot make $name" >&2; exit 1 ;;
  esac
  if [ ! -x "$rootfs/usr/bin/gcc" ]; then
    say "debootstrap bookworm with gcc and libc6-dev into $rootfs (about a minute)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates bookworm "$rootfs" >"$CACHE/debootstrap-builder.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap-builder.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  fi
  sysroot=$(rustc --print sysroot)
  toolchain=$rootfs/usr/local/rustup/toolchains/$have-x86_64-unknown-linux-gnu
  if [ ! -x "$toolchain/bin/cargo" ]; then
    say "copying the host's Rust $have toolchain into the stand-in"
    rm -rf "$rootfs/usr/local/rustup" "$rootfs/usr/local/cargo"
    mkdir -p "$toolchain/bin" "$rootfs/usr/local/cargo/bin"
    # The compiler, cargo and the standard library; not the documentation.
    cp -a "$sysroot/lib" "$toolchain/"
    [ -d "$sysroot/libexec" ] && cp -a "$sysroot/libexec" "$toolchain/"
    for tool in cargo rustc rustdoc; do
      cp -a "$sysroot/bin/$tool" "$toolchain/bin/"
      ln -sf "../../rustup/toolchains/$(basename "$toolchain")/bin/$tool" "$rootfs/usr/local/cargo/bin/$tool"
    done
  fi
  say "importing $name (stand-in for the official Rust image)"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV RUSTUP_HOME=/usr/local/rustup' \
    -c 'ENV CARGO_HOME=/usr/local/cargo' \
    -c 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "LABEL org.workbook.stand-in=\"$name, made by scripts/docker-offline-build.sh\"" \
    - "$name" >/dev/null
}

# The stand-in for Google's distroless `cc-debian12:nonroot`: the Debian
# packages that image is made of (libc6, libgcc-s1, libgomp1, libstdc++6,
# libssl3, ca-certificates, tzdata, netbase, base-files), unpacked without
# their documentation, no shell and no package manager; /etc/passwd and
# /etc/group with root, nobody and nonroot (uid and gid 65532), and, as in
# the real images, `USER 65532` and `WORKDIR /home/nonroot` for the `nonroot`
# tags, root and `/` for the others (`latest`). Its size is
# close to the real one's, so the image sizes measured here are honest.
make_runtime_base() {
  local name=$1 rootfs=$CACHE/rootfs-runtime debs=$CACHE/runtime-debs pkg
  say "unpacking the Debian packages of $name into $rootfs"
  rm -rf "$rootfs" "$debs" && mkdir -p "$rootfs" "$debs"
  local packages=(libc6 libgcc-s1 libgomp1 libstdc++6 libssl3 ca-certificates tzdata netbase base-files)
  # Without package lists (a fresh machine), fetch them once and try again.
  (cd "$debs" && apt-get download "${packages[@]}" >/dev/null 2>&1) \
    || { apt-get update -qq && (cd "$debs" && apt-get download "${packages[@]}" >/dev/null); } \
    || { echo "apt-get download of ${packages[*]} failed" >&2; exit 1; }
  for pkg in "$debs"/*.deb; do dpkg-deb -x "$pkg" "$rootfs"; done
  rm -rf "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/lintian \
    "$rootfs"/usr/share/gdb "$rootfs"/usr/share/info
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/home/nonroot" "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  chown 65532:65532 "$rootfs/home/nonroot"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  # A distroless image has no shell: make sure none came in by accident.
  rm -f "$rootfs"/bin/sh "$rootfs"/usr/bin/sh
  # The `nonroot` tags run as nonroot in /home/nonroot; the others (`latest`,
  # the root-run variant chapter 8's exercise starts from) as root in /.
  local user=0 workdir=/
  case "$name" in *:nonroot*) user=65532 workdir=/home/nonroot ;; esac
  tar -C "$rootfs" -c . | docker import \
    -c "USER $user" -c "WORKDIR $workdir" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c "LABEL org.workbook.stand-in=\"$name, made by scripts/docker-offline-build.sh\"" \
    - "$name" >/dev/null
}

# The stand-in for Docker Hub's `busybox`: Debian's statically linked
# busybox, one link per applet (sh, ls, ping, sleep, ...), and the usual
# /etc/passwd. Chapter 7's exercises and examples run it.
make_busybox() {
  local rootfs=$CACHE/rootfs-busybox applet
  command -v busybox >/dev/null || { echo "busybox is missing: apt-get install busybox-static" >&2; exit 1; }
  say "making busybox:latest from this machine's busybox-static"
  rm -rf "$rootfs" && mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root" "$rootfs/home"
  chmod 1777 "$rootfs/tmp"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["sh"]' \
    -c 'LABEL org.workbook.stand-in="busybox, made by scripts/docker-offline-build.sh"' \
    - busybox:latest >/dev/null
}

make_base_images() {
  local image
  # Every `FROM image [AS stage]` that names an image, not an earlier stage.
  local stages
  stages=$(awk 'toupper($1)=="FROM" && toupper($3)=="AS" {print $4}' "$DOCKERFILE")
  for image in $(awk 'toupper($1)=="FROM" {print $2}' "$DOCKERFILE" | sort -u); do
    if [ "$image" = scratch ] || printf '%s\n' "$stages" | grep -qx "$image" || have_image "$image"; then
      continue
    fi
    case "$image" in
      rust:*) make_builder_base "$image" ;;
      gcr.io/distroless/cc-debian12*) make_runtime_base "$image" ;;
      *) echo "no local stand-in known for $image; pull it on a machine with internet" >&2; exit 1 ;;
    esac
  done
  have_image busybox:latest || make_busybox
}

# The throwaway build context: the repository as `docker build .` would see
# it, plus vendored crates and the source replacement that points cargo at them.
prepare_context() {
  local context=$CACHE/context stamp pattern
  local excludes=(--exclude=./vendor)
  while read -r pattern; do
    case "$pattern" in ''|'#'*|'!'*) continue ;; esac
    excludes+=("--exclude=./${pattern#/}")
  done <"$ROOT/.dockerignore"
  mkdir -p "$context"
  # Start from a clean copy each time, but keep the vendored crates.
  find "$context" -mindepth 1 -maxdepth 1 ! -name vendor -exec rm -rf {} +
  tar -C "$ROOT" "${excludes[@]}" -cf - . | tar -C "$context" -xf -
  stamp=$(cd "$ROOT" && find . -name Cargo.toml -not -path './target/*' -not -path './vendor/*' | sort \
    | xargs cat Cargo.lock | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$context/vendor/.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "vendoring the crates of Cargo.lock into the build context"
    rm -rf "$context/vendor"
    (cd "$context" && cargo vendor --quiet vendor >/dev/null)
    echo "$stamp" >"$context/vendor/.stamp"
  fi
  mkdir -p "$context/.cargo"
  cat >>"$context/.cargo/config.toml" <<'EOF'

# Added by scripts/docker-offline-build.sh, in its throwaway copy only:
# take every crate from ./vendor instead of downloading it.
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"
EOF
  printf '%s\n' "$context"
}

command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "no Docker engine answers (is dockerd running?)" >&2; exit 1; }
make_base_images
$BASES_ONLY && exit 0

context=$(prepare_context)
relative=${DOCKERFILE#"$ROOT"/}
say "docker build -t $TAG -f $relative ${BUILD_OPTIONS[*]-} (classic builder, local base images only)"
started=$SECONDS
if ! DOCKER_BUILDKIT=0 docker build -t "$TAG" -f "$context/$relative" \
  ${BUILD_OPTIONS[@]+"${BUILD_OPTIONS[@]}"} "$context" >"$CACHE/build.log" 2>&1; then
  tail -40 "$CACHE/build.log" >&2
  echo "docker build failed (whole log: $CACHE/build.log)" >&2
  exit 1
fi
say "built $TAG in $((SECONDS - started)) s: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.1f MB", $1/1e6}')"

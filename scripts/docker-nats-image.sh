#!/usr/bin/env bash
# Builds `blog-nats:2.9`, a local Docker image of nats-server, on a machine
# that cannot pull images (the project's CI machines): the offline stand-in
# for the official `nats` image that chapter 10 runs.
#
# On a laptop with internet you do not need this script: the manifests in
# k8s/nats/ name the official `nats:2.10-alpine`, and
#
#     docker run -p 4222:4222 nats:2.10-alpine -js
#
# is the normal way to try it. This script makes an image that behaves the
# same way for what the blog uses (JetStream, clustering, the monitoring
# port), from what this machine has:
#
# - the nats-server binary Debian installed (`apt-get install nats-server`,
#   /usr/sbin/nats-server, 2.9.10 on bookworm). It links against glibc, so
# - the base is the local stand-in for distroless `cc-debian12:nonroot`
#   that scripts/docker-offline-build.sh makes (glibc, no shell), and it is
#   made by that script first if it is missing.
#
# Like the official image, the program is the entrypoint and its options are
# the command, so `docker run blog-nats:2.9 --cluster_name blog ...` and a
# Kubernetes `args:` list give it whatever the cluster needs. With no
# options it runs one JetStream node: clients on 4222, cluster routes on
# 6222 (only when --cluster is given), monitoring on 8222, its store in /data.
# It runs as uid 65532, not root, and /data belongs to that user.
#
# Usage: scripts/docker-nats-image.sh [-t TAG]   (default blog-nats:2.9)
# Environment: WORKBOOK_DOCKER_CACHE, where it keeps the build context
# (default target/docker-offline, as for the blog's image).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=blog-nats:2.9
BASE=gcr.io/distroless/cc-debian12:nonroot
while [ $# -gt 0 ]; do
  case "$1" in
    -t) TAG=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { printf '[docker-nats] %s\n' "$*" >&2; }

BINARY=$(command -v nats-server || true)
[ -n "$BINARY" ] || BINARY=/usr/sbin/nats-server
[ -x "$BINARY" ] || { echo "nats-server is missing: apt-get install nats-server" >&2; exit 1; }
command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "no Docker engine answers (is dockerd running?)" >&2; exit 1; }
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  "$ROOT/scripts/docker-offline-build.sh" --bases-only
fi

CACHE=${WORKBOOK_DOCKER_CACHE:-$ROOT/target/docker-offline}
context=$CACHE/nats-context
rm -rf "$context" && mkdir -p "$context/data"
cp "$BINARY" "$context/nats-server"
version=$("$BINARY" --version | awk '{print $2}')
# A Dockerfile of its own, written here: it is a recipe for this machine
# only, not part of the system a learner builds.
cat >"$context/Dockerfile" <<DOCKERFILE
FROM $BASE
COPY nats-server /nats-server
# The JetStream store; a volume (a PVC in Kubernetes) is mounted over it.
COPY --chown=65532:65532 data /data
USER 65532
EXPOSE 4222 6222 8222
LABEL org.workbook.stand-in="nats ($version from Debian), made by scripts/docker-nats-image.sh"
ENTRYPOINT ["/nats-server"]
CMD ["--jetstream", "--store_dir", "/data", "--http_port", "8222"]
DOCKERFILE
say "docker build -t $TAG from $BINARY ($version) on $BASE"
DOCKER_BUILDKIT=0 docker build -q -t "$TAG" "$context" >/dev/null
say "built $TAG: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.1f MB", $1/1e6}')"

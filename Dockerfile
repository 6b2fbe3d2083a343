# The blog in one image. One binary runs any of its services, chosen by the
# command:  docker run blog:0.1.0 posts   (or comments, query, moderation,
# event-bus, client). Build it from the repository's root:
#
#     docker build -t blog:0.1.0 .
#
# With your own services where their tests pass: cargo workbook image --mine
# (it passes --build-arg BLOG_FEATURES=...; see below).
#
# Chapter 8 of the book explains every line.

# ---- Stage 1: the recipe ------------------------------------------------------
# Everything that decides which crates get compiled: the manifests and the
# lock file, with every crate's sources replaced by an empty stand-in. It
# changes only when a dependency changes, so the slow layer built from it in
# stage 2 is reused from Docker's cache when you only edit code. Cargo's own
# settings come along, and so do vendored crates when the build context has
# them (scripts/docker-offline-build.sh builds that way, without internet).
FROM rust:1.95-slim-bookworm AS recipe
# A failing `find` in the pipe below must fail the build, not go unnoticed.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY . .
# The `cd` runs in a `$( )` subshell, to list one crate's src/bin; it moves
# nothing else, so WORKDIR (which hadolint suggests) has nothing to do here.
# hadolint ignore=DL3003
RUN mkdir -p /recipe \
 && cp Cargo.toml Cargo.lock /recipe/ \
 && if [ -d .cargo ]; then cp -r .cargo /recipe/; fi \
 && if [ -d vendor ]; then cp -r vendor /recipe/; fi \
 && find . -name Cargo.toml -not -path './vendor/*' -not -path './target/*' | while read -r manifest; do \
      crate=$(dirname "$manifest"); \
      mkdir -p "/recipe/$crate"; cp "$manifest" "/recipe/$crate/"; \
      for target in src/lib.rs src/main.rs build.rs $(cd "$crate" && find src/bin -name '*.rs' 2>/dev/null); do \
        if [ -f "$crate/$target" ]; then \
          mkdir -p "$(dirname "/recipe/$crate/$target")"; echo 'fn main() {}' > "/recipe/$crate/$target"; \
        fi; \
      done; \
    done

# ---- Stage 2: the build ---------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
# ANCHOR: size
# A service waits on the network, not on the CPU: a smaller binary makes a
# smaller image and costs it nothing noticeable.
ENV CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
    CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
# ANCHOR_END: size
# 1. The dependencies alone, from the recipe: cached until Cargo.lock or a
#    manifest changes.
COPY --from=recipe /recipe ./
RUN cargo build --release --locked --package blog
# 2. Our own code. `touch` makes cargo see the real sources as newer than the
#    empty stand-ins it compiled a moment ago.
COPY . .
# ANCHOR: features
# Which services are yours: `mine-<service>` features (solutions/blog/
# Cargo.toml), say "mine-posts,mine-moderation"; empty, the reference blog.
# `cargo workbook image --mine` sets it for you. Declared only here, so the
# dependency layer above is the same for every choice and stays cached.
ARG BLOG_FEATURES=""
# ANCHOR_END: features
RUN find . -name '*.rs' -not -path './vendor/*' -not -path './target/*' -exec touch {} + \
 && cargo build --release --locked --package blog --features "$BLOG_FEATURES" \
 && mkdir -p /out/data \
 && cp target/release/blog /out/blog

# ---- Stage 3: the image we ship ---------------------------------------------------
# No compiler, no shell, no package manager: glibc, libgcc, CA certificates
# and time zones, and a user called nonroot (uid 65532) to run as.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/blog /usr/local/bin/blog
# The data folder belongs to the service's user; a volume mounted here starts
# with this owner too.
COPY --from=builder --chown=65532:65532 /out/data /data
USER 65532:65532
# Listen on every interface of the container (the default, 127.0.0.1, would be
# unreachable from outside it) and keep the data where a volume can hold it.
ENV HOST=0.0.0.0 \
    DATA_DIR=/data
# The services' default ports: posts 4000, comments 4001, query 4002,
# moderation 4003, event-bus 4005, client 3000.
EXPOSE 3000 4000 4001 4002 4003 4005
# The binary is PID 1: it gets `docker stop`'s SIGTERM itself and shuts down
# gracefully (no shell in between to swallow the signal).
ENTRYPOINT ["/usr/local/bin/blog"]
CMD ["--help"]

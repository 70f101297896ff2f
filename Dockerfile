# Parlor's image: a build stage whose dependency layer is cached apart from the sources, then a
# slim runtime that runs `parlor serve` as an unprivileged user with /data as its volume.
# The base images are arguments, so a machine without a registry can build from local stand-ins.
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the manifests or the vendored crate change.
# Every target the manifest names gets a stand-in, so Cargo resolves and builds the dependencies.
COPY Cargo.toml Cargo.lock ./
COPY vendor ./vendor
RUN mkdir -p src bench tests/api \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/api/main.rs \
    && for example in argon2_rate avatar_pipeline chat_load sockets_load; do echo 'fn main() {}' > "bench/$example.rs"; done \
    && cargo build --release --locked --bin parlor \
    && rm -rf src bench tests
COPY src ./src
# The stand-ins are older than the sources, so Cargo rebuilds Parlor itself and nothing else.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin parlor \
    && install -m 0755 target/release/parlor /usr/local/bin/parlor

FROM ${RUNTIME_IMAGE}
# curl serves the health check; certificates, TLS to S3, SMTP and PostgreSQL.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin parlor \
    && mkdir -p /data /var/lib/parlor/static \
    && chown parlor:parlor /data /var/lib/parlor/static
COPY --from=build /usr/local/bin/parlor /usr/local/bin/parlor
ENV PARLOR_DATA_DIR=/data \
    PARLOR_BIND=0.0.0.0:8080 \
    PARLOR_CONFIG=/etc/parlor/parlor.toml
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/parlor"]
CMD ["serve"]

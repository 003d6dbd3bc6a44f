# driftd's container image: a build stage compiles the binary, the runtime stage is Debian slim
# with the libraries it links (OpenSSL, libcurl, zlib) and nothing else; it runs as a non-root
# user with `driftd run` as the entrypoint, the configuration in /etc/driftd and the state in
# /var/lib/driftd (both volumes).
#
#   docker build -t driftd .                       # or: buildah build -t driftd .
#   docker run --rm -p 9464:9464 -v driftd-state:/var/lib/driftd driftd
#   docker run --rm -v ./my.toml:/etc/driftd/driftd.toml:ro driftd          # your configuration
#   docker run --rm --entrypoint driftd driftd serve --config /etc/driftd/serve.toml
#
# Build arguments: RUST_IMAGE and RUNTIME_IMAGE choose the two base images; BINARY_FROM=prebuilt
# takes a binary already built for Debian bookworm from the build context's `driftd` file instead
# of compiling one (the project's test suite does so: `scripts/container.sh`).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG BINARY_FROM=compile

FROM ${RUST_IMAGE} AS compile
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make pkg-config libssl-dev libcurl4-openssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p driftd \
 && install -D -m 0755 target/release/driftd /out/driftd

FROM ${RUNTIME_IMAGE} AS prebuilt
COPY driftd /out/driftd

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libcurl4 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 driftd \
 && useradd --system --uid 10001 --gid driftd --home-dir /var/lib/driftd --shell /usr/sbin/nologin driftd \
 && install -d -o driftd -g driftd -m 0750 /var/lib/driftd \
 && install -d -m 0755 /etc/driftd
COPY --from=binary /out/driftd /usr/local/bin/driftd
COPY config/container.toml /etc/driftd/driftd.toml
USER 10001:10001
WORKDIR /var/lib/driftd
VOLUME ["/etc/driftd", "/var/lib/driftd"]
EXPOSE 9464 9465
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/driftd"]
CMD ["run", "--config", "/etc/driftd/driftd.toml"]

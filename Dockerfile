# The `stress` image: the release binary with the shipped scripts, modules and profiles, run as
# a non-root user. From the repository's root:
#   docker build -t stress .
#   docker run --rm stress                 # 20 users for 30 s against the in-process demo bot
# deploy/kubernetes/README.md runs it as an Indexed Job, one shard per pod.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN} AS build
WORKDIR /src
# An image has no sources for line tables to point at: no debug info, and a stripped binary.
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

# The dependencies first, compiled against stub sources, so that this layer (most of the build
# time) is rebuilt only when Cargo.toml or Cargo.lock change, not on every edit of src/.
# benches/ comes along because Cargo.toml names its benches and cargo wants their files.
COPY Cargo.toml Cargo.lock ./
COPY benches benches
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# Every folder the sources include at compile time (the Bot API description and media files,
# the shipped scripts, modules and profiles); .ci/validate-deploy checks that none is missing.
COPY data data
COPY scripts scripts
COPY stdlib stdlib
COPY profiles profiles
COPY src src
# COPY keeps the files' own times, which may be older than the stub build: without the touch
# cargo could take the stub crate as up to date (the stub prints no version, so the grep fails).
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && ./target/release/stress --version | grep '^stress '

FROM debian:${DEBIAN}-slim
# ca-certificates: an https:// --target is checked against the system's roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /stress --no-create-home \
        --shell /usr/sbin/nologin stress
COPY --from=build /src/target/release/stress /usr/local/bin/stress
# The working folder is laid out as a project (`stress init`): `stress run` with no flags finds
# scripts/, stdlib/ and profiles/ here, and results/ is where the Kubernetes Job writes (a
# volume is mounted over it there).
WORKDIR /stress
COPY scripts scripts
COPY stdlib stdlib
COPY profiles profiles
RUN mkdir results && chown 10001:10001 results
USER 10001:10001
# The dashboard, control API and Prometheus /metrics, when a run is given --control 0.0.0.0:8089
# (any address but loopback needs --control-token).
EXPOSE 8089
ENTRYPOINT ["stress"]
CMD ["run"]

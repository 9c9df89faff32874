# pipewatch as a container image: built from source, run as an unprivileged user.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sql ./sql
COPY pipeline.conf.example ./
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/pipewatch pipewatch
COPY --from=build /src/target/release/pipewatch /usr/local/bin/pipewatch
USER pipewatch
WORKDIR /var/lib/pipewatch
ENTRYPOINT ["pipewatch"]
CMD ["run"]

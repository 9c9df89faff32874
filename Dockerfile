# pipewatch as a container image: built from source, then only the binary on a distroless base
# (glibc, CA certificates, time zones; no shell, no package manager), run as a non-root user.
# Put pipewatch into your own Airflow image with one line (the README's Install section):
#   COPY --from=pipewatch:0.1.0 /usr/local/bin/pipewatch /usr/local/bin/pipewatch
# No Docker daemon runs where pipewatch is tested: tests/it/packaging.rs checks what it can
# without one (the files copied exist, the build is the one CI tests, the binary needs no
# library the runtime image lacks); the image build itself is not exercised there.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sql ./sql
COPY pipeline.conf.example ./
RUN cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/pipewatch /usr/local/bin/pipewatch
USER nonroot
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/pipewatch"]
CMD ["run"]

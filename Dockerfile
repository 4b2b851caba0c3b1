# Builds the hookline binary and the benchmark receiver into a small runtime image that
# runs as an unprivileged user. .dockerignore keeps target/, data/ and .git out of the build.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p hookline -p hookline-testkit

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/hookline --shell /usr/sbin/nologin hookline \
    && mkdir -p /var/lib/hookline && chown hookline:hookline /var/lib/hookline
COPY --from=build /src/target/release/hookline /usr/local/bin/hookline
COPY --from=build /src/target/release/hookline-receiver /usr/local/bin/hookline-receiver
ENV HOOKLINE_LISTEN=0.0.0.0:8000 HOOKLINE_DATA_DIR=/var/lib/hookline
VOLUME /var/lib/hookline
EXPOSE 8000
# Not root: the service needs no privilege, only its data directory.
USER hookline
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD ["hookline", "probe", "--url", "http://127.0.0.1:8000/ready"]
ENTRYPOINT ["hookline"]
CMD ["serve"]

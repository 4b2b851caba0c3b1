# Builds the hookline binary and the benchmark receiver into a small runtime image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p hookline -p hookline-testkit

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/hookline /usr/local/bin/hookline
COPY --from=build /src/target/release/hookline-receiver /usr/local/bin/hookline-receiver
ENV HOOKLINE_LISTEN=0.0.0.0:8000 HOOKLINE_DATA_DIR=/var/lib/hookline
VOLUME /var/lib/hookline
EXPOSE 8000
ENTRYPOINT ["hookline"]
CMD ["serve"]

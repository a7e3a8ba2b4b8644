# fitd — container image.
#
#   docker build -t fitd .
#   docker run -d -p 8080:8080 -v fitd-data:/data -e FITD_API_KEY=secret fitd
#
# Two stages on debian:bookworm-slim: `build` compiles with the project's own
# Makefile; the runtime stage holds only the shared libraries (libpq5 for a
# FITD_DB that is a postgresql:// URI), the binary, migrations/ (sqlite/ and
# postgres/), web/, docs/openapi.json (served at /openapi.json) and Debian's
# Chart.js (served at /vendor/chart.js/).
# Tested with podman by tests/container/run.sh (`make test-container`).

# ---- build ----------------------------------------------------------------
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        libmicrohttpd-dev libcjson-dev libsqlite3-dev libpq-dev libopenblas-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# web/ may be absent from a checkout that has no dashboard files yet.
RUN mkdir -p web \
 && make -j"$(nproc)" build/fitd \
 && install -D -s -m 0755 build/fitd /out/opt/fitd/bin/fitd \
 && cp -r migrations web /out/opt/fitd/ \
 && install -D -m 0644 docs/openapi.json /out/opt/fitd/docs/openapi.json \
 && chmod -R a+rX,go-w /out/opt/fitd

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libcjson1 libsqlite3-0 libpq5 libopenblas0-pthread libssl3 libjs-chart.js \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 fitd \
 && useradd --system --uid 10001 --gid fitd --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin fitd \
 && mkdir -p /data \
 && chown fitd:fitd /data \
 && chmod 0750 /data
COPY --from=build /out/opt/fitd /opt/fitd

# Every FITD_* variable can be set at `docker run -e`; the port for the health
# check must be set as FITD_PORT (not --port), since the check reads the
# environment.
ENV FITD_DB=/data/fitd.db \
    FITD_BIND=0.0.0.0 \
    FITD_PORT=8080 \
    FITD_SHARE_DIR=/opt/fitd
VOLUME /data
WORKDIR /data
# Numeric, so that runAsNonRoot-style checks can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# No curl in the image: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/opt/fitd/bin/fitd", "healthcheck"]
ENTRYPOINT ["/opt/fitd/bin/fitd"]

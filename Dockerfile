# Sightline as a container image: built on Debian 12, run on a slim Debian 12 with only the
# runtime libraries, as a non-root user, with a read-only root filesystem in mind (state, spills
# and temporary files go to the /var/lib/sightline volume). The demo project is baked in and
# served by default; mount your own project and pass `serve /project ...` to serve it.
#
#   podman build --format docker -t sightline .   (or docker build; BASE may name a local Debian 12 image;
#                                                 podman keeps HEALTHCHECK only in the docker format)
#   podman run -p 8501:8501 -v sightline-state:/var/lib/sightline sightline
ARG BASE=debian:12-slim

FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake ninja-build pkg-config ca-certificates \
      libboost-dev libyaml-cpp-dev nlohmann-json3-dev libssl-dev libcurl4-openssl-dev libflatbuffers-dev \
      libcli11-dev libexpected-dev libroaring-dev libhiredis-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Pinned JavaScript packages first (the DuckDB library and the UI's build tools), so that a source
# change does not download them again.
# Behind a TLS-inspecting proxy, pass its CA bundle: --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt
COPY third_party/duckdb/package.json third_party/duckdb/package-lock.json third_party/duckdb/
RUN --mount=type=secret,id=ca_bundle \
    if [ -f /run/secrets/ca_bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_bundle; fi \
 && cd third_party/duckdb && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error
COPY web/package.json web/package-lock.json web/
RUN --mount=type=secret,id=ca_bundle \
    if [ -f /run/secrets/ca_bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_bundle; fi \
 && cd web && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_BUILD_TESTS=OFF -DSIGHTLINE_BUILD_BENCH=OFF \
 && cmake --build build --target sightline --parallel "$(nproc)" \
 && mkdir -p /out/bin /out/demo \
 && cp build/sightline build/libduckdb.so /out/bin/
# The demo project with 1M rows of its data. In a container it must answer beyond loopback, and it
# has no sign-in: it says so explicitly (the server prints a warning at start).
RUN cp -r examples/sales/. /out/demo/ \
 && rm -rf /out/demo/data /out/demo/.sightline \
 && /out/bin/sightline demo-data --rows 1000000 --out /out/demo/data \
 && printf '\nauth: { mode: none, allow_remote: true }\n' >> /out/demo/sightline.yaml

FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libyaml-cpp0.7 libssl3 libcurl4 libroaring0 libhiredis0.14 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/sightline --no-create-home sightline \
 && mkdir -p /var/lib/sightline/tmp /var/lib/sightline/state \
 && chown -R sightline:sightline /var/lib/sightline
COPY --from=build /out/bin/ /opt/sightline/bin/
COPY --from=build /out/demo/ /opt/sightline/demo/
# Spills and temporary files: the writable volume, never the (read-only) root filesystem.
ENV TMPDIR=/var/lib/sightline/tmp
VOLUME /var/lib/sightline
USER 10001:10001
EXPOSE 8501
# No curl in the image: bash's /dev/tcp asks /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8501 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/opt/sightline/bin/sightline"]
CMD ["serve", "/opt/sightline/demo", "--host", "0.0.0.0", "--port", "8501", "--state-dir", "/var/lib/sightline/state", "--no-reload", "--drain-delay", "5s"]

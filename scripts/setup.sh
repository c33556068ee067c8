#!/usr/bin/env bash
# Installs everything the tests and benchmarks need on a fresh Debian machine:
# system packages (Prometheus and promtool, amtool, psql and a PostgreSQL server, curl, OpenSSL
# headers for librdkafka),
# Python peers (confluent-kafka, the OpenTelemetry SDK, DuckDB, psycopg) and the tansu
# Kafka broker. Idempotent: each part is skipped when already present.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- Debian packages -------------------------------------------------------
need_apt=()
# promtool, and the Prometheus server that PromQL answers are checked against.
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
# A throwaway PostgreSQL cluster (pg_virtualenv) answers the same SQL as the PostgreSQL endpoint.
command -v pg_virtualenv >/dev/null 2>&1 || need_apt+=(postgresql)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# librdkafka is built with TLS (for SSL and SASL_SSL brokers) against the system OpenSSL.
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The packages ship services; a container without an init system must not start them.
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The Debian packages start their daemons where an init system exists; the tests start their own.
  for svc in prometheus prometheus-alertmanager postgresql; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
  done
fi

# --- Python peers ------------------------------------------------------------
py_pkgs=(confluent-kafka duckdb opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc pyarrow 'psycopg[binary]')
if ! python3 -c 'import confluent_kafka, duckdb, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, pyarrow, psycopg' >/dev/null 2>&1; then
  log "pip install ${py_pkgs[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${py_pkgs[@]}"
fi

# --- tansu (a Kafka-protocol broker written in Rust) -------------------------
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
  log "cargo install tansu (builds once, several minutes)"
  cargo install tansu --locked --features dynostore --quiet
fi
log "ready"

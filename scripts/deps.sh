#!/usr/bin/env bash
# scripts/deps.sh - install what building, running and testing RustMQ needs on
# Debian 12, idempotently: only packages that are missing are passed to
# apt-get. Runs as root (or with sudo available) with no prompt.
#   scripts/deps.sh build   - compiler and libraries for the binaries
#   scripts/deps.sh test    - plus test tools (cmocka, clang/libFuzzer, Kafka clients,
#                             Go + Sarama for test_sarama.py)
set -euo pipefail
mode=${1:-build}

build_pkgs=(build-essential cmake ninja-build pkg-config
  libuv1-dev libraft-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev
  liburing-dev librdkafka-dev libcurl4-openssl-dev libssl-dev libjansson-dev libmicrohttpd-dev)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev llvm
  kcat python3 python3-pytest python3-confluent-kafka python3-kafka awscli prometheus
  golang-go golang-github-shopify-sarama-dev)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")

# node + npm fetch the S3 test server (s3rver); keep a newer Node if one is installed
if [ "$mode" = test ] && ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# scripts/run.sh - install what is missing, build, and start a single-node
# RustMQ on embedded defaults (data under ./data, Kafka on 127.0.0.1:9092).
# Extra arguments go to rustmq-broker (e.g. --config config/broker.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build rustmq-broker >/dev/null
exec build/rustmq-broker "$@"

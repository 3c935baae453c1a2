#!/bin/sh
# kafkajs.sh - KafkaJS, the pure-JavaScript Kafka client the integration tests
# drive rustmq-broker with (tests/integration/test_kafkajs.py runs the node
# scripts in tests/integration/js/). It encodes the protocol itself, with other
# API versions than librdkafka or kafka-python. Installed into
# tests/integration/.node/ (git-ignored), pinned to one version.
#
#   tests/tools/kafkajs.sh install   install if missing
#   tests/tools/kafkajs.sh path      print the node_modules directory to put in
#                                    NODE_PATH (kafkajs is installed when
#                                    PATH/kafkajs/package.json exists)
# Needs node and npm on PATH.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/npm_pin.sh"
version=2.2.4

case "${1:-}" in
install)
    npm_pin_install kafkajs "$version"
    ;;
path)
    echo "$(npm_pin_dir)/node_modules"
    ;;
*)
    echo "usage: $0 install | path" >&2
    exit 2
    ;;
esac

#!/bin/sh
# s3rver.sh - the S3-protocol test server for RustMQ's object-store tests.
#
# s3rver (npm, 3.7.1) is a real S3 HTTP server backed by a directory. It does
# not check signatures (SigV4 is proven against AWS's test vectors instead,
# tests/unit/test_sigv4.c); it does exercise our HTTP, XML, range, list
# pagination, multipart and multi-delete code (tests/unit/test_objstore_s3.c).
# It is installed into tests/integration/.node/ (git-ignored).
#
#   tests/tools/s3rver.sh install                 install if missing
#   tests/tools/s3rver.sh path                    print the s3rver launcher path
#   tests/tools/s3rver.sh start DIR PORT [BUCKET] run in the foreground on
#                                                 127.0.0.1:PORT (default bucket
#                                                 "rmq-test"), data in DIR
# Access key must be S3RVER (any secret). Needs node and npm on PATH.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/npm_pin.sh"
bin="$(npm_pin_dir)/node_modules/.bin/s3rver"
version=3.7.1

cmd=${1:-}
case "$cmd" in
install)
    npm_pin_install s3rver "$version" || exit 1
    [ -x "$bin" ] || { echo "install finished but $bin is missing" >&2; exit 1; }
    echo "s3rver installed: $bin"
    ;;
path)
    echo "$bin"
    ;;
start)
    [ $# -ge 3 ] || { echo "usage: $0 start DIR PORT [BUCKET]" >&2; exit 2; }
    [ -x "$bin" ] || { echo "s3rver not installed (run $0 install)" >&2; exit 1; }
    mkdir -p "$2"
    # Without the legacy provider, s3rver answers 500 to truncated LISTs on node >= 17.
    NODE_OPTIONS=--openssl-legacy-provider
    export NODE_OPTIONS
    exec "$bin" -d "$2" -a 127.0.0.1 -p "$3" --silent --configure-bucket "${4:-rmq-test}"
    ;;
*)
    echo "usage: $0 install | path | start DIR PORT [BUCKET]" >&2
    exit 2
    ;;
esac

# npm_pin.sh - sourced by the test-tool scripts (s3rver.sh, kafkajs.sh): one
# way to install a pinned npm package into tests/integration/.node/
# (git-ignored), shared by every node tool the tests use.
#
#   . "$here/npm_pin.sh"
#   npm_pin_dir                  print the prefix (tests/integration/.node)
#   npm_pin_installed NAME VER   true if NAME is installed there at exactly VER
#   npm_pin_install NAME VER     install NAME@VER there unless already present
# Needs node and npm on PATH for the install; $here must be tests/tools.

npm_pin_dir() {
    printf '%s/.node\n' "$(cd "$here/../integration" && pwd)"
}

npm_pin_installed() {
    pj="$(npm_pin_dir)/node_modules/$1/package.json"
    [ -f "$pj" ] || return 1
    # package.json is JSON; node is there whenever the package is usable
    [ "$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj" 2>/dev/null)" = "$2" ]
}

npm_pin_install() {
    if npm_pin_installed "$1" "$2"; then
        echo "$1 $2 already installed in $(npm_pin_dir)"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || { echo "npm not found" >&2; return 1; }
    d=$(npm_pin_dir)
    mkdir -p "$d"
    npm view "$1@$2" version >/dev/null || { echo "npm registry unreachable" >&2; return 1; }
    npm install --no-audit --no-fund --save-exact --prefix "$d" "$1@$2" || return 1
    npm_pin_installed "$1" "$2" || { echo "install finished but $1 $2 is missing in $d" >&2; return 1; }
    echo "$1 $2 installed in $d"
}

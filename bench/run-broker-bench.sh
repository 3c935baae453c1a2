#!/usr/bin/env bash
# run-broker-bench.sh - the standard Kafka-protocol benchmark set (bench/README.md).
#
# Optionally starts a broker (the command after `--`; it refuses to when the
# port already answers, so the figures are never another process's), waits
# for its port, then runs with rustmq-bench:
#   1. produce at max rate  (1 KiB, acks=1, 12 partitions; prints disk + client ceiling)
#   2. consume the backlog  (from the beginning, as many messages as step 1 delivered)
#   3. e2e at half the max rate of step 1 (p99 produce and p99 end-to-end latency),
#      with linger.ms = --e2e-linger (default 1: librdkafka's default of 5 ms
#      alone would put every message 5 ms late, so it is not a latency setting)
#   4. the same produce load against librdkafka's in-process mock: the
#      client's own p99 at that rate and linger, the floor the broker's sits on
# and prints a summary plus a markdown row for the README table (with, below
# it, steps 3 and 4's p99 by second and without the first second), then the
# broker's own latency histograms over step 3 (from --metrics: Produce and
# Fetch request time, WAL append and synced-write time), so a client figure
# can be split into the broker's part and the rest, the warnings the broker
# logged during step 3 (a slow WAL writer step names itself) and each broker
# thread's CPU time and minor page faults over step 3. It stops only
# the broker process it started (by PID). All traffic stays on loopback.
#
# usage: bench/run-broker-bench.sh [options] [-- BROKER_CMD [ARGS...]]
#   --bench PATH          rustmq-bench binary (default: build/rustmq-bench next to this repo)
#   --bootstrap HOST:PORT broker address (default 127.0.0.1:9092)
#   --mock                run the set against librdkafka's in-process mock instead of a broker
#   --duration SEC        length of the produce and e2e runs (default 10)
#   --topic NAME          topic (default: a fresh rmq-bench-std-<time>-<pid>, deleted
#                         at exit with its data and objects, so repeated runs do not
#                         fill the disk; a topic named here is kept)
#   --keep-topic          keep the fresh topic too
#   --disk-probe-dir DIR  where the disk write+fdatasync probe runs (default .; use the broker's data dir)
#   --label TEXT          first column of the markdown row (default: rustmq-broker, or mock)
#   --wait SEC            how long to wait for the broker port (default 30)
#   --out FILE            also append the RESULT lines to FILE
#   --e2e-linger MS       producer linger.ms of steps 3 and 4 (default 1)
#   --e2e-rate MSGS       rate of steps 3 and 4 in msgs/s instead of half of step 1's
#                         max rate: compares builds at the same load, where a build
#                         with a higher max rate would otherwise get a heavier step 3
#                         (the markdown row's "half rate" column then shows this rate)
#   --metrics URL         broker's Prometheus endpoint (default http://127.0.0.1:9642/metrics):
#                         before step 3 the script waits (up to 180 s) until
#                         rustmq_object_uploads_pending is 0, so the latency run
#                         measures a steady broker, not the upload of step 1's burst
#   --broker-seconds      also scrape --metrics once a second during step 3 (with curl)
#                         and print the broker's Produce and synced-write p99 per
#                         second beside the client's, to tell a slow second's cause;
#                         off by default: a scrape a second is load the standard
#                         rows were not measured with
#   -X key=value          librdkafka property passed to every run (repeatable)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
bench=""
bootstrap="127.0.0.1:9092"
mock=0
duration=10
topic="rmq-bench-std-$(date +%s)-$$"
own_topic=1
disk_dir="."
label=""
wait_sec=30
out=""
e2e_linger=1
e2e_rate=0
metrics_url="http://127.0.0.1:9642/metrics"
broker_seconds=0
xargs_=()
broker_cmd=()

die() { echo "run-broker-bench: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --bench) bench="$2"; shift 2 ;;
    --bootstrap) bootstrap="$2"; shift 2 ;;
    --mock) mock=1; shift ;;
    --duration) duration="$2"; shift 2 ;;
    --topic) topic="$2"; own_topic=0; shift 2 ;;
    --keep-topic) own_topic=0; shift ;;
    --disk-probe-dir) disk_dir="$2"; shift 2 ;;
    --label) label="$2"; shift 2 ;;
    --wait) wait_sec="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --e2e-linger) e2e_linger="$2"; shift 2 ;;
    --e2e-rate) e2e_rate="$2"; [[ "$e2e_rate" =~ ^[1-9][0-9]*$ ]] || die "--e2e-rate wants a positive integer (msgs/s)"; shift 2 ;;
    --metrics) metrics_url="$2"; shift 2 ;;
    --broker-seconds) broker_seconds=1; shift ;;
    -X) xargs_+=(-X "$2"); shift 2 ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; broker_cmd=("$@"); break ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

if [[ -z "$bench" ]]; then
  for c in "$repo/build/rustmq-bench" "$repo"/build*/rustmq-bench; do
    if [[ -x "$c" ]]; then bench="$c"; break; fi
  done
fi
[[ -n "$bench" && -x "$bench" ]] || die "rustmq-bench not found; build it (ninja -C build rustmq-bench) or pass --bench"
[[ "$duration" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--duration wants seconds"
if [[ $mock -eq 1 && ${#broker_cmd[@]} -gt 0 ]]; then die "--mock and a broker command exclude each other"; fi
if [[ -z "$label" ]]; then
  if [[ $mock -eq 1 ]]; then label="librdkafka mock (in-process)"; else label="rustmq-broker"; fi
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3

workdir="$(mktemp -d /tmp/rmq-broker-bench.XXXXXX)"
broker_pid=""
# Delete the fresh topic (DeleteTopics; the broker drops its WAL data and
# deletes its objects), so a loop of standard sets does not fill the disk:
# each run leaves ~8 GB of objects otherwise.
delete_topic() {
  [[ $own_topic -eq 1 && $mock -eq 0 ]] || return 0
  "$py" - "$bootstrap" "$topic" <<'EOF' || true
import sys
try:
    from confluent_kafka.admin import AdminClient
except ImportError:
    print("== topic %s kept (no confluent_kafka to delete it with)" % sys.argv[2])
    sys.exit(0)
a = AdminClient({"bootstrap.servers": sys.argv[1]})
try:
    a.delete_topics([sys.argv[2]], operation_timeout=30)[sys.argv[2]].result(timeout=40)
    print("== deleted topic %s" % sys.argv[2])
except Exception as e:
    print("== could not delete topic %s: %s" % (sys.argv[2], e))
EOF
}
cleanup() {
  delete_topic
  if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host="${bootstrap%:*}"
port="${bootstrap##*:}"

if [[ ${#broker_cmd[@]} -gt 0 ]]; then
  # Something already listening there would answer the readiness probe
  # below, and every figure would be of that process instead.
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "$bootstrap is already in use by another process; stop it or pass --bootstrap" >&2
    exit 1
  fi
  echo "== starting broker: ${broker_cmd[*]}"
  "${broker_cmd[@]}" >"$workdir/broker.log" 2>&1 &
  broker_pid=$!
  deadline=$(( $(date +%s) + wait_sec ))
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if ! kill -0 "$broker_pid" 2>/dev/null; then
      echo "broker exited before listening; its log:" >&2
      tail -n 40 "$workdir/broker.log" >&2 || true
      exit 1
    fi
    if [[ $(date +%s) -ge $deadline ]]; then
      echo "broker not listening on $bootstrap after ${wait_sec}s; its log:" >&2
      tail -n 40 "$workdir/broker.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "== broker pid $broker_pid listening on $bootstrap"
fi

if [[ $mock -eq 1 ]]; then target=(--mock); else target=(--bootstrap "$bootstrap"); fi
common=(--topic "$topic" --partitions 12 --msg-size 1024 "${xargs_[@]}")

# run NAME ARGS... : runs rustmq-bench, shows its output, keeps the RESULT json in $workdir/NAME.json
run() {
  local name="$1"; shift
  echo "== $name: $(basename "$bench") $*"
  local rc=0
  "$bench" "$@" >"$workdir/$name.out" 2>"$workdir/$name.err" || rc=$?
  cat "$workdir/$name.out"
  grep -v '^%[0-9]|' "$workdir/$name.err" | tail -n 5 >&2 || true
  grep '^RESULT ' "$workdir/$name.out" | tail -n 1 | sed 's/^RESULT //' >"$workdir/$name.json" || true
  if [[ -n "$out" && -s "$workdir/$name.json" ]]; then
    printf 'RESULT %s\n' "$(cat "$workdir/$name.json")" >>"$out"
  fi
  if [[ $rc -ne 0 || ! -s "$workdir/$name.json" ]]; then
    echo "run-broker-bench: $name failed (exit $rc)" >&2
    if [[ -n "$broker_pid" ]]; then echo "broker log tail:" >&2; tail -n 20 "$workdir/broker.log" >&2 || true; fi
    exit 1
  fi
}

jget() { # jget FILE python-expression-on-r
  "$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# 1. produce at max rate
run produce produce "${target[@]}" "${common[@]}" --acks 1 --duration "$duration" --disk-probe-dir "$disk_dir"
delivered=$(jget "$workdir/produce.json" 'r["produce"]["messages"]')
max_rate=$(jget "$workdir/produce.json" 'int(r["produce"]["msgs_per_s"])')
[[ "$delivered" -gt 0 ]] || { echo "run-broker-bench: produce delivered nothing" >&2; exit 1; }

# 2. consume the backlog (the mock lives only inside one process: it preloads its own)
if [[ $mock -eq 1 ]]; then
  run consume consume "${target[@]}" "${common[@]}" --from beginning --preload "$delivered" --disk-probe-mb 0
else
  run consume consume "${target[@]}" "${common[@]}" --from beginning --count "$delivered" --disk-probe-mb 0
fi

# 3. latency at half the max rate, once the broker has uploaded step 1's burst
if [[ $mock -eq 0 ]]; then
  "$py" - "$metrics_url" <<'EOF'
import sys, time, urllib.request
url, t0, last = sys.argv[1], time.monotonic(), None
while time.monotonic() - t0 < 180:
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception as e:
        print("== (no metrics at %s: %s; not waiting for uploads)" % (url, e))
        sys.exit(0)
    v = [l.split()[1] for l in text.splitlines() if l.startswith("rustmq_object_uploads_pending ")]
    if not v:
        print("== (broker exports no rustmq_object_uploads_pending; not waiting)")
        sys.exit(0)
    last = float(v[0])
    if last == 0:
        print("== uploads idle after %.1f s" % (time.monotonic() - t0))
        sys.exit(0)
    time.sleep(0.5)
print("== uploads still pending (%s) after 180 s; measuring anyway" % last)
EOF
fi
# snap FILE: the broker's /metrics now (nothing with the mock or without metrics)
snap() {
  [[ $mock -eq 0 ]] || return 0
  "$py" - "$metrics_url" "$1" <<'EOF'
import sys, urllib.request
try:
    open(sys.argv[2], "w").write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
except Exception:
    pass
EOF
}
# threads NAME: "tid comm cpu_ticks minor_faults" of each broker thread (own broker only)
threads() {
  [[ -n "$broker_pid" ]] || return 0
  for t in /proc/"$broker_pid"/task/*; do
    # comm may hold spaces and parens: the fields after its last ')' are fixed
    # (state is field 3, minflt 10, utime 14, stime 15)
    awk '{l = index($0, "("); r = 0
          for (i = length($0); i > 0; i--) if (substr($0, i, 1) == ")") { r = i; break }
          comm = substr($0, l + 1, r - l - 1); gsub(/ /, "_", comm)
          split(substr($0, r + 2), f, " ")
          print $1, comm, f[12] + f[13], f[8]}' "$t/stat" 2>/dev/null || true
  done >"$1"
}
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
half=$(( max_rate / 2 )); [[ $half -ge 1 ]] || half=1
if [[ $e2e_rate -gt 0 ]]; then half=$e2e_rate; fi
snap "$workdir/metrics-before-e2e.txt"
threads "$workdir/threads-before-e2e.txt"
log_mark=0
if [[ -n "$broker_pid" ]]; then log_mark=$(wc -l <"$workdir/broker.log"); fi
# --broker-seconds: a snapshot a second while step 3 runs (curl: no Python
# start-up on the two cores each second)
sec_pid=""
if [[ $broker_seconds -eq 1 && $mock -eq 0 ]] && command -v curl >/dev/null; then
  ( i=0; while :; do
      curl -s -m 2 -o "$workdir/metrics-sec-$(printf %03d $i).txt" "$metrics_url" || true
      i=$((i + 1)); sleep 1
    done ) &
  sec_pid=$!
elif [[ $broker_seconds -eq 1 && $mock -eq 0 ]]; then
  echo "== (no curl: --broker-seconds has nothing to scrape with)"
fi
run e2e e2e "${target[@]}" "${common[@]}" --acks 1 --rate "$half" --linger-ms "$e2e_linger" --duration "$duration" \
  --no-ceiling --disk-probe-mb 0
if [[ -n "$sec_pid" ]]; then kill "$sec_pid" 2>/dev/null || true; wait "$sec_pid" 2>/dev/null || true; fi

snap "$workdir/metrics-after-e2e.txt"
threads "$workdir/threads-after-e2e.txt"
log_end=0
if [[ -n "$broker_pid" ]]; then log_end=$(wc -l <"$workdir/broker.log"); fi

# 4. the client alone at that load (its consumer side is not comparable: only produce latency is used)
run floor e2e --mock "${common[@]}" --acks 1 --rate "$half" --linger-ms "$e2e_linger" --duration "$duration" \
  --no-ceiling --disk-probe-mb 0

echo
echo "== summary ($label, topic $topic)"
"$py" - "$workdir" "$label" <<'EOF'
import json, sys
d, label = sys.argv[1], sys.argv[2]
p = json.load(open(d + "/produce.json"))
c = json.load(open(d + "/consume.json"))
e = json.load(open(d + "/e2e.json"))
fl = json.load(open(d + "/floor.json"))
def f(v, fmt="{:,.0f}"):
    return "n/a" if v is None else fmt.format(v)
disk = (p.get("disk") or {}).get("mb_per_s")
ceil = (p.get("ceiling") or {}).get("msgs_per_s")
pp, cc, ep, ec = p["produce"], c["consume"], e["produce"], e["consume"]
lat = lambda h, k: None if not h else h.get(k)
rows = [
    ("disk write+fdatasync MB/s", f(disk, "{:,.0f}")),
    ("client ceiling msg/s (mock)", f(ceil)),
    ("produce msg/s (max rate)", f(pp["msgs_per_s"])),
    ("produce MB/s", f(pp["mb_per_s"], "{:,.1f}")),
    ("consume msg/s", f(cc["msgs_per_s"])),
    ("consume MB/s", f(cc["mb_per_s"], "{:,.1f}")),
    ("half rate msg/s", f(e["rate"])),
    ("p99 produce ms at half rate", f(lat(ep["latency_ms"], "p99"), "{:.2f}")),
    ("p99 e2e ms at half rate", f(lat(ec["e2e_latency_ms"], "p99"), "{:.2f}")),
    ("p99 produce ms, client alone (mock)", f(lat(fl["produce"]["latency_ms"], "p99"), "{:.2f}")),
]
for k, v in rows:
    print(f"  {k:36s} {v}")
print()
print("markdown row for bench/README.md:")
print("| " + " | ".join([label] + [v for _, v in rows]) + " |")
# where the tail is: by second of enqueue, and without the first second
# (client start-up: connections, the consumer's first fetches; the mock
# pays it too). The table keeps the whole run's p99.
def steady(r):
    return lat(r.get("latency_after_first_second_ms"), "p99")
def by_sec(r):
    return " ".join("-" if not h else "{:.2f}".format(h["p99"]) for h in r.get("latency_by_second_ms") or [])
print()
print("  p99 produce ms after the first second: broker {}, mock {}".format(
    f(steady(ep), "{:.2f}"), f(steady(fl["produce"]), "{:.2f}")))
print("  p99 produce ms by second, broker: " + by_sec(ep))
print("  p99 produce ms by second, mock:   " + by_sec(fl["produce"]))
EOF
# The broker's own view of step 3 (histogram deltas between the two
# snapshots; a quantile is the upper bound of the bucket it falls in): what
# part of the client's latency is the broker's, and of that, the WAL's. With
# --broker-seconds, also the p99 of each second (deltas between consecutive
# snapshots; the first is taken as the e2e run starts, so its seconds line up
# with the client's within the client's start-up).
if [[ -s "$workdir/metrics-before-e2e.txt" && -s "$workdir/metrics-after-e2e.txt" ]]; then
  echo
  echo "== broker side of step 3 (bucket upper bounds, ms)"
  secs=()
  if [[ $broker_seconds -eq 1 ]] && compgen -G "$workdir/metrics-sec-*.txt" >/dev/null; then
    secs=("$workdir"/metrics-sec-*.txt)
  fi
  "$py" - "$workdir/metrics-before-e2e.txt" "$workdir/metrics-after-e2e.txt" "${secs[@]}" <<'EOF'
import re, sys
def load(path):
    h = {}
    for line in open(path):
        m = re.match(r'(\w+)_bucket\{(.*?)le="([^"]+)"\} (\S+)', line)
        if m:
            h.setdefault((m.group(1), m.group(2)), []).append((float(m.group(3)), float(m.group(4))))
    return h
def delta(a, b, key):
    """[(le, count)] of key between snapshots a and b, and the total; None if absent"""
    after = b.get(key)
    if not after:
        return None, 0
    before = dict(a.get(key, []))
    d = [(le, c - before.get(le, 0.0)) for le, c in after]
    return d, d[-1][1]
def q_ms(d, total, p):
    le = next(le for le, c in d if c >= p * total)
    return "inf" if le == float("inf") else "%g" % (le * 1000)
a, b = load(sys.argv[1]), load(sys.argv[2])
show = [("rustmq_request_latency_seconds", 'api="Produce",', "Produce request"),
        ("rustmq_request_latency_seconds", 'api="Fetch",', "Fetch request"),
        ("rustmq_wal_append_latency_seconds", "", "WAL append (queue + synced write)"),
        ("rustmq_wal_fsync_latency_seconds", "", "WAL synced write")]
for name, labels, title in show:
    d, total = delta(a, b, (name, labels))
    if d is None or total <= 0:
        continue
    q = ["p%g <= %s" % (p * 100, q_ms(d, total, p)) for p in (0.5, 0.99, 0.999)]
    print("  %-36s n=%-7d %s" % (title, total, "  ".join(q)))
snaps = [s for s in map(load, sys.argv[3:]) if s]  # a scrape that failed or came back empty is skipped
if len(snaps) > 1:
    print("  p99 by second:")
    for name, labels, title in (show[0], show[3]):
        cells = []
        for x, y in zip(snaps, snaps[1:]):
            d, total = delta(x, y, (name, labels))
            cells.append(q_ms(d, total, 0.99) if d and total > 0 else "-")
        print("  %-36s %s" % (title, " ".join(cells)))
EOF
fi

# What the broker itself reported during step 3 (only when this script
# started it): a "slow WAL writer step", "slow WAL segment preparation" or
# "append waited for the next WAL segment" line says where a latency spike
# came from.
if [[ -n "$broker_pid" ]]; then
  echo
  echo "== broker warnings and errors during step 3"
  warns=$(sed -n "$((log_mark + 1)),${log_end}p" "$workdir/broker.log" | grep -a 'level=warn\|level=error' || true)
  if [[ -n "$warns" ]]; then
    printf '%s\n' "$warns" | head -n 20
    n=$(printf '%s\n' "$warns" | wc -l)
    [[ $n -le 20 ]] || echo "  ... $((n - 20)) more"
  else
    echo "  none"
  fi
fi

# CPU time and minor page faults of each broker thread over step 3 (only when
# this script started the broker): a thread that faults in tens of thousands
# of pages is growing memory the host may have taken back (bench/README.md,
# "Memory the host took back"), one near 100 ticks a second is out of CPU.
if [[ -s "$workdir/threads-before-e2e.txt" && -s "$workdir/threads-after-e2e.txt" ]]; then
  echo
  echo "== broker threads over step 3 (CPU ticks at ${clk_tck:-100}/s, minor faults)"
  awk 'NR==FNR {cpu[$1]=$3; flt[$1]=$4; next}
       ($1 in cpu) {c=$3-cpu[$1]; f=$4-flt[$1]; if (c>0 || f>0) {n[$2]++; tc[$2]+=c; tf[$2]+=f}}
       END {for (k in n) printf "  %-16s threads %-3d cpu %-6d minflt %d\n", k, n[k], tc[k], tf[k]}' \
    "$workdir/threads-before-e2e.txt" "$workdir/threads-after-e2e.txt" | sort
fi

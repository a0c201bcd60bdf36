#!/usr/bin/env bash
# Load-generator benchmarks, run by hand (not by CI): client CPU per request at saturation, side
# by side with wrk in the same run, and memory per idle virtual user.
#
#   benches/load.sh            # both
#   benches/load.sh cpu        # CPU per request only
#   benches/load.sh memory     # memory per idle user only (1k, 10k and 100k users)
#   benches/load.sh timing     # wait lateness with 10,000 users
#
# The demo bot runs as a separate process (`stress target`) pinned to CPU 0; the load generator
# (stress, then wrk) is pinned to CPU 1. Client CPU per request = (user + system CPU time of
# the generator) / requests it completed. Needs taskset (util-linux) and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-all}"
SECS="${SECS:-10}"
CONNS="${CONNS:-64}"
PORT="${PORT:-18080}"
BIN=target/release/stress
TMP="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

cargo build --release --quiet
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

start_target() {
    taskset -c 0 "$BIN" target --listen "127.0.0.1:$PORT" --no-latency "$@" 2>/dev/null &
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$PORT/stats" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the demo bot did not start" >&2; exit 1
}

# Runs a command pinned to CPU 1; prints "user sys" CPU seconds of it.
cpu_of() {
    local TIMEFORMAT='%U %S'
    { time taskset -c 1 "$@" >"$TMP/out" 2>"$TMP/err"; } 2>"$TMP/time"
    cat "$TMP/time"
}

json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

cpu() {
    start_target
    # A command update like the ones the shipped scripts send, for wrk.
    cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"update_id":100000001,"message":{"message_id":1,"from":{"id":6900100001,"is_bot":false,"first_name":"Anna","username":"guest_100001","language_code":"en"},"date":1764000000,"chat":{"id":6900100001,"type":"private","first_name":"Anna","username":"guest_100001"},"text":"/help","entities":[{"type":"bot_command","offset":0,"length":5}]}}'
LUA
    echo "== client CPU per request: $CONNS connections, ${SECS}s each, target on CPU 0, client on CPU 1"
    for round in 1 2; do
        read -r su ss < <(cpu_of "$BIN" run --target "http://127.0.0.1:$PORT/webhook" \
            --wait 0 --no-await-reply --max-connections "$CONNS" --users "$CONNS" \
            --spawn-rate 10000 --run-time "${SECS}s" --workers 1 --seed "$round" -q \
            --json "$TMP/run.json")
        sreq=$(json "$TMP/run.json" "d['totals']['requests']")
        sfail=$(json "$TMP/run.json" "d['totals']['failures']")
        read -r wu ws < <(cpu_of wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$TMP/post.lua" \
            "http://127.0.0.1:$PORT/webhook")
        wreq=$(grep -oE '^ *[0-9]+ requests in' "$TMP/out" | grep -oE '[0-9]+')
        python3 - "$su" "$ss" "$sreq" "$sfail" "$wu" "$ws" "$wreq" "$SECS" <<'PY'
import sys
su, ss, sreq, sfail, wu, ws, wreq, secs = sys.argv[1:]
s_us = (float(su) + float(ss)) / int(sreq) * 1e6
w_us = (float(wu) + float(ws)) / int(wreq) * 1e6
print(f"stress: {int(sreq)/float(secs):9.0f} req/s  {s_us:6.1f} us CPU/request  ({sfail} failed)")
print(f"wrk:    {int(wreq)/float(secs):9.0f} req/s  {w_us:6.1f} us CPU/request")
print(f"ratio stress/wrk: {s_us / w_us:.2f}")
PY
    done
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Pools wide enough for 100,000 users at the 80/15/4/1 split (the defaults hold ~22,000).
POOLS=(--pool developer=6900500000..6900506000 --pool admin=6900400000..6900402000)

# RSS (KiB) of a run with N users idling (a one-hour wait after their first task), once all
# have started and finished that task: spawned at RATE per second, then SETTLE seconds more.
idle_rss() {
    local users=$1 rate=${2:-100000}
    local settle=$(( users / rate + ${SETTLE:-6} ))
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --wait 3600 \
        --users "$users" --spawn-rate "$rate" --run-time "$((settle + 30))s" --workers 1 \
        --seed 1 -q "${POOLS[@]}" >/dev/null 2>&1 &
    local pid=$!
    sleep "$settle"
    rss_kib "$pid"
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
}

# The median of three measurements of `idle_rss ARGS`.
median_rss() {
    for _ in 1 2 3; do idle_rss "$@"; done | sort -n | sed -n 2p
}

memory() {
    start_target "${POOLS[@]}"
    echo "== memory per idle user: RSS once all users started and finished their first task"
    echo "   (median of 3 runs each; per user = (RSS(N) - RSS(1)) / (N - 1))"
    base=$(median_rss 1)
    for n in 1000 10000; do
        rss=$(median_rss "$n")
        python3 -c "print(f'{$n:>7} users at once:  RSS {$rss/1024:7.1f} MiB, {($rss-$base)/($n-1):5.2f} KiB per idle user (base {$base/1024:.1f} MiB)')"
    done
    # The same 10,000 started at 2,000/s: fewer first tasks at once, less left behind by them.
    rss=$(median_rss 10000 2000)
    python3 -c "print(f'  10000 users, 2000/s: RSS {$rss/1024:7.1f} MiB, {($rss-$base)/9999:5.2f} KiB per idle user')"
    # 100,000 users, spawned at 10,000/s: the 1 GiB aim.
    rss=$(idle_rss 100000 10000)
    python3 -c "print(f' 100000 users, 10000/s: RSS {$rss/1024:7.1f} MiB, {($rss-$base)/99999:5.2f} KiB per idle user (aim: under 1024 MiB)')"
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

# How late 10,000 users wake from their waits (1-3 s between tasks, replies not awaited).
timing() {
    start_target
    echo "== wait lateness: 10,000 users waiting 1-3 s between tasks, ${SECS}s after the ramp"
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --users 10000 \
        --spawn-rate 5000 --run-time "$((SECS + 3))s" --wait 1..3 --no-await-reply --workers 1 \
        --seed 1 -q --pool admin=6900000100..6900000400 --json "$TMP/timing.json" >/dev/null
    json "$TMP/timing.json" "'lateness p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d waits; %d requests, %d failed' % (d['totals']['wait_lateness_ms']['p50'], d['totals']['wait_lateness_ms']['p99'], d['totals']['wait_lateness_ms']['max'], d['totals']['wait_lateness_ms']['count'], d['totals']['requests'], d['totals']['failures'])"
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

case "$MODE" in
    cpu) cpu ;;
    memory) memory ;;
    timing) timing ;;
    all) cpu; memory; timing ;;
    *) echo "usage: $0 [cpu|memory|timing|all]" >&2; exit 2 ;;
esac

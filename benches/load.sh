#!/usr/bin/env bash
# Load-generator benchmarks, run by hand (not by CI): client CPU per request at saturation, side
# by side with wrk in the same run, and memory per idle virtual user.
#
#   benches/load.sh            # cpu, memory, timing and scaling (not soak)
#   benches/load.sh cpu        # CPU per request only (ROUNDS=2 rounds, after a warm-up run)
#   benches/load.sh memory     # memory per idle user only (1k, 10k and 100k users)
#   benches/load.sh timing     # wait lateness (10,000 users), spike spawn rate, idle scheduler
#   benches/load.sh scaling    # client CPU per request with 1 and 2 workers
#   benches/load.sh rhai       # what the shipped scripts' building blocks cost, one by one
#   benches/load.sh instructions  # instructions per request (callgrind), split by area
#   benches/load.sh soak       # RSS over SOAK_MIN (30) minutes at 2,000 users, short waits
#   benches/load.sh deadline   # 200,000 users, 20 s run time, 10 s stop timeout: when it ends
#   benches/load.sh open       # the open model at 10,000 starts/s: start lateness, CPU per start
#   benches/load.sh merge      # stress merge of SHARDS (100) shard files: wall time, peak memory
#
# The demo bot runs as a separate process (`stress target`) pinned to CPU 0; the load generator
# (stress, then wrk) is pinned to CPU 1. Client CPU per request = (user + system CPU time of
# the generator) / requests it completed. Needs taskset (util-linux); cpu needs wrk (apt-get install
# wrk), instructions needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-all}"
SECS="${SECS:-10}"
CONNS="${CONNS:-64}"
PORT="${PORT:-18080}"
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/stress}"
TMP="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet

# Starts the demo bot on CPU ${TARGET_CPUS:-0}, with extra flags, and waits until it answers.
start_target() {
    taskset -c "${TARGET_CPUS:-0}" "$BIN" target --listen "127.0.0.1:$PORT" --no-latency "$@" \
        2>/dev/null &
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$PORT/stats" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the demo bot did not start" >&2; exit 1
}

# Runs a command pinned to CPU 1; prints "user sys" CPU seconds of it.
cpu_of() {
    local TIMEFORMAT='%U %S'
    { time taskset -c 1 "$@" </dev/null >"$TMP/out" 2>"$TMP/err"; } 2>"$TMP/time"
    cat "$TMP/time"
}

json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

cpu() {
    command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
    start_target
    # A command update like the ones the shipped scripts send, for wrk.
    cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"update_id":100000001,"message":{"message_id":1,"from":{"id":6900100001,"is_bot":false,"first_name":"Anna","username":"guest_100001","language_code":"en"},"date":1764000000,"chat":{"id":6900100001,"type":"private","first_name":"Anna","username":"guest_100001"},"text":"/help","entities":[{"type":"bot_command","offset":0,"length":5}]}}'
LUA
    echo "== client CPU per request: $CONNS connections, ${SECS}s each, target on CPU 0, client on CPU 1"
    echo "   (stress with the four shipped scripts, stress with benches/one_send.rhai, then wrk)"
    # The demo bot's first seconds (a chat's state made on its first update, its allocator
    # growing) are slower, and a slower target costs the client more CPU per request (fewer
    # answers per wake-up): an unmeasured run first, so every round meets the same target.
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --wait 0 --no-await-reply \
        --max-connections "$CONNS" --users "$CONNS" --spawn-rate 10000 --run-time 3s \
        --workers 1 -q </dev/null >/dev/null 2>&1
    for round in $(seq "${ROUNDS:-2}"); do
        read -r su ss < <(cpu_of "$BIN" run --target "http://127.0.0.1:$PORT/webhook" \
            --wait 0 --no-await-reply --max-connections "$CONNS" --users "$CONNS" \
            --spawn-rate 10000 --run-time "${SECS}s" --workers 1 --seed "$round" -q \
            --json "$TMP/run.json")
        sreq=$(json "$TMP/run.json" "d['totals']['requests']")
        sfail=$(json "$TMP/run.json" "d['totals']['failures']")
        read -r ou os < <(cpu_of "$BIN" run --target "http://127.0.0.1:$PORT/webhook" \
            --script benches/one_send.rhai --wait 0 --no-await-reply --max-connections "$CONNS" \
            --users "$CONNS" --spawn-rate 10000 --run-time "${SECS}s" --workers 1 \
            --seed "$round" -q --json "$TMP/one.json")
        oreq=$(json "$TMP/one.json" "d['totals']['requests']")
        read -r wu ws < <(cpu_of wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$TMP/post.lua" \
            "http://127.0.0.1:$PORT/webhook")
        wreq=$(grep -oE '^ *[0-9]+ requests in' "$TMP/out" | grep -oE '[0-9]+')
        python3 - "$su" "$ss" "$sreq" "$sfail" "$ou" "$os" "$oreq" "$wu" "$ws" "$wreq" "$SECS" <<'PY'
import sys
su, ss, sreq, sfail, ou, os_, oreq, wu, ws, wreq, secs = sys.argv[1:]
s_us = (float(su) + float(ss)) / int(sreq) * 1e6
o_us = (float(ou) + float(os_)) / int(oreq) * 1e6
w_us = (float(wu) + float(ws)) / int(wreq) * 1e6
print(f"stress, shipped scripts: {int(sreq)/float(secs):9.0f} req/s  {s_us:6.1f} us CPU/request  ({sfail} failed)  ratio to wrk {s_us / w_us:.2f}")
print(f"stress, one_send.rhai:   {int(oreq)/float(secs):9.0f} req/s  {o_us:6.1f} us CPU/request  ratio to wrk {o_us / w_us:.2f}")
print(f"wrk:                     {int(wreq)/float(secs):9.0f} req/s  {w_us:6.1f} us CPU/request")
PY
    done
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

# RSS in KiB of a process; 0 once it has gone (or is exiting and has no memory left).
rss_kib() { awk '/VmRSS/ {r = $2} END {print r + 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

# The default pools hold 1,000,000 users at the 80/15/4/1 split: no --pool needed.
POOLS=()

# RSS (KiB) of a run with N users idling (a one-hour wait after their first task), once all
# have started and finished that task: spawned at RATE per second, then SETTLE seconds more.
idle_rss() {
    local users=$1 rate=${2:-100000}
    local settle=$(( users / rate + ${SETTLE:-6} ))
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --wait 3600 \
        --users "$users" --spawn-rate "$rate" --run-time "$((settle + 30))s" --workers 1 \
        --seed 1 -q "${POOLS[@]}" --json "$TMP/idle.json" >/dev/null 2>&1 &
    local pid=$!
    sleep "$settle"
    rss_kib "$pid"
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    # The RSS counts only if every user had started and finished its first task by then.
    python3 - "$TMP/idle.json" "$users" <<'PY' >&2
import json, sys
d = json.load(open(sys.argv[1])); n = int(sys.argv[2])
started = sum(c["users_started"] for c in d["classes"])
if started < n or d["totals"]["tasks"] < n or d["totals"]["failures"]:
    sys.exit(f"the {n}-user run was not idle when measured: {started} started, "
             f"{d['totals']['tasks']} tasks, {d['totals']['failures']} failed")
PY
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
    # 100,000 users, spawned at 10,000/s (one run): the 1 GiB aim.
    rss=$(idle_rss 100000 10000)
    python3 -c "print(f' 100000 users, 10000/s: RSS {$rss/1024:7.1f} MiB, {($rss-$base)/99999:5.2f} KiB per idle user (aim: under 1024 MiB)')"
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

# CPU seconds (user + system) so far of a process: its worker threads ("stress-worker-N") and
# all the rest (scheduler, aggregator, control), as "workers rest". Fails if it has gone.
thread_cpu() {
    local pid=$1 hz total workers
    kill -0 "$pid" 2>/dev/null || { echo "the run ended before it was measured" >&2; return 1; }
    hz=$(getconf CLK_TCK)
    # comm may hold spaces: take the fields after its closing parenthesis.
    total=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
    workers=$(for t in /proc/"$pid"/task/*; do
        if grep -q '^stress-worker' "$t/comm" 2>/dev/null; then
            sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}'
        fi
    done | awk '{w += $1} END {print w + 0}')
    awk -v hz="$hz" -v t="$total" -v w="$workers" 'BEGIN {printf "%.3f %.3f\n", w / hz, (t - w) / hz}'
}

# How late 10,000 users wake from their waits (1-3 s between tasks, replies not awaited); how
# close the spike profile's ramp comes to its asked rate; what an idle scheduler costs.
timing() {
    start_target "${POOLS[@]}"
    echo "== wait lateness: 10,000 users waiting 1-3 s between tasks, ${SECS}s after the ramp"
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --users 10000 \
        --spawn-rate 5000 --run-time "$((SECS + 3))s" --wait 1..3 --no-await-reply --workers 1 \
        --seed 1 -q "${POOLS[@]}" --json "$TMP/timing.json" >/dev/null
    json "$TMP/timing.json" "'lateness p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d waits; %d requests, %d failed' % (d['totals']['wait_lateness_ms']['p50'], d['totals']['wait_lateness_ms']['p99'], d['totals']['wait_lateness_ms']['max'], d['totals']['wait_lateness_ms']['count'], d['totals']['requests'], d['totals']['failures'])"

    echo "== spawn rate over the spike profile (2,000 users at 100/s: a 20 s ramp)"
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --profile spike \
        --run-time 24s --workers 1 --seed 1 -q "${POOLS[@]}" --json "$TMP/spike.json" >/dev/null
    python3 - "$TMP/spike.json" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["spawn"]:
    rate = p["achieved_rate"]
    how = "no rate (one change)" if rate is None else \
        f"{rate:.3f} users/s achieved, {p['asked_rate']:.3f} asked ({(rate / p['asked_rate'] - 1) * 100:+.3f}%)"
    print(f"{p['source']}: {p['started']} started from {p['first_s']:.3f} s to {p['last_s']:.3f} s: {how}")
PY

    echo "== an idle run: 2,000 users in a one-hour wait, CPU over ${IDLE_SECS:-10} s after they started"
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --users 2000 \
        --spawn-rate 2000 --run-time 60s --wait 3600 --workers 1 --seed 1 -q "${POOLS[@]}" \
        >/dev/null 2>&1 &
    local pid=$!
    sleep 4
    read -r w0 r0 < <(thread_cpu "$pid")
    sleep "${IDLE_SECS:-10}"
    read -r w1 r1 < <(thread_cpu "$pid")
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$w0" "$w1" "$r0" "$r1" "${IDLE_SECS:-10}" <<'PY'
import sys
w0, w1, r0, r1, secs = map(float, sys.argv[1:])
def per_s(cpu):
    # /proc counts CPU time in 10 ms clock ticks.
    return f"{cpu * 1000 / secs:.1f} ms" if cpu > 0 else f"under {10 / secs:.1f} ms (no clock tick)"
print(f"workers: {per_s(w1 - w0)} CPU per second; scheduler, aggregator and the rest: {per_s(r1 - r0)} per second")
PY
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

# Multi-core, as far as 2 cores show it: the same saturating run with one worker on CPU 1 (the
# target on CPU 0), then two workers over both CPUs, which they share with the target. Requests/s
# is bounded by the target either way; what this shows is whether a second worker makes each
# request cost more (contention, cross-core traffic). A lock that makes a thread wait costs no
# CPU, so this is a bound on shared-state costs, not a proof that nothing serialises.
scaling() {
    echo "== client CPU per request, 1 worker vs 2 workers, $CONNS connections, ${SECS}s each"
    for round in 1 2; do
        for w in 1 2; do
            local cpus=1
            [ "$w" = 2 ] && cpus=0,1
            TARGET_CPUS=$([ "$w" = 2 ] && echo 0,1 || echo 0) start_target
            local TIMEFORMAT='%U %S'
            { time taskset -c "$cpus" "$BIN" run --target "http://127.0.0.1:$PORT/webhook" \
                --wait 0 --no-await-reply --max-connections "$CONNS" --users "$CONNS" \
                --spawn-rate 10000 --run-time "${SECS}s" --workers "$w" --seed "$round" -q \
                --json "$TMP/scale.json" >/dev/null 2>&1; } 2>"$TMP/time"
            kill %1 2>/dev/null || true; wait 2>/dev/null || true
            read -r u s < "$TMP/time"
            json "$TMP/scale.json" "'%d worker(s) on CPU $cpus: %8.0f req/s, %5.1f us client CPU per request, %d failed' % ($w, d['totals']['requests'] / $SECS, ($u + $s) / d['totals']['requests'] * 1e6, d['totals']['failures'])"
        done
    done
}

# The soak profile's shape (a ramp at 20 users/s, then a long hold) at 2,000 users, compressed
# in time: `--wait 0.1..0.5` replaces every class's wait between tasks (1-5 s for guests, longer
# for the others), so each user runs 10x or more the tasks per minute it would. RSS sampled
# every 10 s; growth from minute 2 to the last sample before the run's end.
soak() {
    local minutes=${SOAK_MIN:-30}
    [ "$minutes" -ge 4 ] || { echo "SOAK_MIN must be at least 4" >&2; exit 2; }
    start_target "${POOLS[@]}"
    echo "== soak: 2,000 users, soak profile shape, waits 0.1-0.5 s, ${minutes} minutes"
    taskset -c 1 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" --profile soak \
        --users 2000 --run-time "${minutes}m" --wait 0.1..0.5 --workers 1 --seed 1 -q \
        "${POOLS[@]}" --json "$TMP/soak.json" >/dev/null 2>&1 &
    local pid=$! begin=$SECONDS
    : > "$TMP/rss"
    while [ $((SECONDS - begin)) -lt $((minutes * 60 - 15)) ]; do
        sleep 10
        echo "$((SECONDS - begin)) $(rss_kib "$pid")" >> "$TMP/rss"
    done
    wait "$pid" 2>/dev/null || true
    cp "$TMP/rss" target/soak-rss.txt   # seconds and RSS (KiB) every 10 s, kept for a closer look
    python3 - "$TMP/rss" <<'PY'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
rows = [(t, r) for t, r in rows if r > 0]
for t, r in rows:
    if t // 300 != (t - 10) // 300 or (t, r) == rows[-1]:
        print(f"  minute {t / 60:5.1f}: RSS {r / 1024:7.1f} MiB")
# Single samples move by a few percent with the requests in flight at that instant: compare the
# median of the minute from 2:00 with the median of the last minute, and show the points too.
median = lambda v: sorted(v)[len(v) // 2]
first = median([r for t, r in rows if 120 <= t < 180])
end_t = rows[-1][0]
last = median([r for t, r in rows if t > end_t - 60])
at2 = next(r for t, r in rows if t >= 120)
print(f"growth from minute 2 to minute {end_t / 60:.1f}: {(last / first - 1) * 100:+.2f}% "
      f"(medians of a minute; single samples {(rows[-1][1] / at2 - 1) * 100:+.2f}%; aim: at most +5%)")
PY
    json "$TMP/soak.json" "'%d requests, %d failed, %d tasks, %d script errors' % (d['totals']['requests'], d['totals']['failures'], d['totals']['tasks'], d['totals']['script_errors'])"
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

# What the scripts' building blocks cost in a real run: for each, a one-task class sends one
# /help (so the task runs as in any run, against the bot, and has a reply object `r`) and then
# evaluates the block 200 times in a loop. Cost per evaluation = (CPU per task - CPU per task of the same loop reading a variable)
# / 200, as the median of three 3 s runs of 8 users on one worker.
rhai_costs() {
    start_target
    local n=200 secs=${RHAI_SECS:-3}
    op() {  # name, expression; the task has `r`, the reply object of a /help
        cat >"$TMP/$1.rhai" <<R
import "messages" as msg;
user_class("Op", #{ tier: "guest", weight: 1, wait: constant(0) });
/// @task(1)
fn op() {
    let r = send_command("/help");
    for i in 0..$n { let x = $2; }
}
R
    }
    # Sets PER_TASK to the median CPU microseconds per task of three runs of class file $1; a
    # run that fails, or whose task fails, stops the script (no number is made up from it).
    per_task() {
        local runs=() k u s
        for k in 1 2 3; do
            rm -f "$TMP/op.json"
            read -r u s < <(cpu_of "$BIN" run --target "http://127.0.0.1:$PORT/webhook" \
                --script "$1" --wait 0 --no-await-reply --max-connections 8 --users 8 \
                --spawn-rate 10000 --run-time "${secs}s" --workers 1 -q --json "$TMP/op.json")
            [ -s "$TMP/op.json" ] || { echo "$1: the run failed:" >&2; tail -5 "$TMP/err" >&2; exit 1; }
            runs+=("$(python3 - "$TMP/op.json" "$u" "$s" "$1" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
if t["script_errors"] or t["failures"] or not t["tasks"]:
    sys.exit(f"{sys.argv[4]}: {t['script_errors']} script errors, {t['failures']} failed requests")
print((float(sys.argv[2]) + float(sys.argv[3])) / t["tasks"] * 1e6)
PY
)") || exit 1
        done
        PER_TASK=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
    }
    row() { awk -v name="$1" -v us="$2" 'BEGIN { printf "  %-50s %6.2f us\n", name, us }'; }
    echo "== Rhai: microseconds per evaluation in a running task (median of 3 runs of ${secs}s)"
    op loop 'i'
    local base one
    per_task "$TMP/loop.rhai"; base=$PER_TASK
    per_task benches/one_send.rhai; one=$PER_TASK
    row "a task with one send (one_send.rhai), per task" "$one"
    row "one loop turn (let x = i)" "$(awk -v b="$base" -v o="$one" -v n=$n 'BEGIN { print (b - o) / n }')"
    while IFS='|' read -r name expr; do
        op x "$expr"
        per_task "$TMP/x.rhai"
        row "$name" "$(awk -v t="$PER_TASK" -v b="$base" -v n=$n 'BEGIN { print (t - b) / n }')"
    done <<'OPS'
a native call: chance(0.5)|chance(0.5)
a pick from a list of 3 literals|pick(["/help", "/status", "/skills"])
a reply property: r.ok|r.ok
check("message accepted", r.ok)|check("message accepted", r.ok)
a string with a number: `ref_${rand_int(1, 500)}`|`ref_${rand_int(1, 500)}`
msg::simple()|msg::simple()
msg::complex()|msg::complex()
msg::rewrite() (a pick from 6)|msg::rewrite()
msg::summarize() (2-5 picks joined)|msg::summarize()
OPS
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

# User-space instructions per request, counted by callgrind: deterministic, so a change of 1%
# shows, where CPU time on this VM moves by 5-10% from one run to the next. Each case runs twice
# under valgrind, N and 3N tasks per user with the same seed; start-up cancels out in the
# difference (benches/instructions.py). Needs valgrind (apt-get install valgrind).
instructions() {
    command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
    start_target "${POOLS[@]}"
    local n=${TASKS:-100}
    echo "== user-space instructions per request (callgrind; runs of $n and $((3 * n)) tasks per user)"
    count() {  # label, users, extra run flags
        local label=$1 users=$2 k; shift 2
        for k in 1 3; do
            valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$label.$k" \
                --separate-threads=yes --max-stackframe=10000000 "$BIN" run --target "http://127.0.0.1:$PORT/webhook" \
                --users "$users" --spawn-rate 10000 --iterations $((k * n)) --run-time 600s \
                --wait 0 --no-await-reply --workers 1 --seed 1 -q "${POOLS[@]}" \
                --json "$TMP/cg.$label.$k.json" "$@" >/dev/null 2>"$TMP/cg.err" \
                || { cat "$TMP/cg.err" >&2; exit 1; }
        done
        python3 benches/instructions.py "$TMP/cg.$label" "$label"
    }
    # RUN_FLAGS adds flags to both runs (for example RUN_FLAGS="--flood-limits off").
    local -a extra=()
    read -ra extra <<< "${RUN_FLAGS:-}"
    count "one_send.rhai" 1 --script benches/one_send.rhai "${extra[@]}"
    count "the shipped scripts, 20 users" 20 "${extra[@]}"
    kill %1 2>/dev/null || true; wait 2>/dev/null || true
}

# The overload case of the hard deadline: a run ends within run time + stop timeout + 1 s
# whatever the load, the users still running then abandoned. In-process demo bot, as a user
# would start it.
deadline() {
    echo "== hard deadline: 200,000 users at 100,000/s, --run-time 20s --stop-timeout 10s (budget 31 s)"
    local t0 t1
    t0=$(date +%s.%N)
    "$BIN" run --users 200000 --spawn-rate 100000 --run-time 20s --stop-timeout 10s \
        -q --no-reload --json "$TMP/deadline.json" >/dev/null 2>&1
    t1=$(date +%s.%N)
    python3 - "$TMP/deadline.json" "$t0" "$t1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); wall = float(sys.argv[3]) - float(sys.argv[2])
t = d["totals"]
print(f"results at {d['duration_s']:.2f} s of the run, process gone at {wall:.2f} s (wall); "
      f"{t['requests']} requests, {t['abandoned_users']} users abandoned, "
      f"{t['failures']} failed")
PY
}

# The open model's pacer: 10,000 starts a second of a task that sends nothing (benches/noop.rhai)
# on 1,000 users, against the same task paced by each user in the closed model (throughput(10)
# on 1,000 users); the difference in CPU per task is what the open model's start costs.
open_model() {
    local run_s=$((SECS + 1))
    echo "== open model: 10,000 starts/s for ${SECS} s (after the 1 s warm-up), 1,000 users"
    /usr/bin/time -f "%U %S" -o "$TMP/open.time" taskset -c 1 "$BIN" run \
        --script benches/noop.rhai --arrival-rate 10000 --max-users 1000 --run-time "${run_s}s" \
        --workers 1 --seed 1 -q --json "$TMP/open.json" >/dev/null
    sed 's/wait: 0/wait: throughput(10)/' benches/noop.rhai >"$TMP/paced.rhai"
    /usr/bin/time -f "%U %S" -o "$TMP/paced.time" taskset -c 1 "$BIN" run \
        --script "$TMP/paced.rhai" --users 1000 --spawn-rate 100000 --run-time "${run_s}s" \
        --workers 1 --seed 1 -q --json "$TMP/paced.json" >/dev/null
    python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
def load(name):
    d = json.load(open(f"{tmp}/{name}.json"))
    user, system = map(float, open(f"{tmp}/{name}.time").read().split())
    return d, (user + system) / max(d["totals"]["tasks"], 1) * 1e6
o, o_us = load("open")
p, p_us = load("paced")
t, l = o["totals"], o["totals"]["wait_lateness_ms"]
print(f"open: {t['tasks']} started, {t['dropped_iterations']} dropped; start lateness "
      f"p50 {l['p50']:.3f} ms, p99 {l['p99']:.3f} ms, max {l['max']:.3f} ms over {l['count']} wake-ups")
print(f"CPU per task: open {o_us:.1f} us, closed and paced {p_us:.1f} us "
      f"({p['totals']['tasks']} tasks): {o_us - p_us:.1f} us per start")
PY
}

# `stress merge` of SHARDS (100) shard files: wall time and peak memory (/usr/bin/time). One real
# shard's result is the template (shard 1 of SHARDS of a test of the shipped scripts, 30 users a
# shard, 30 tasks each, no wait, against the in-process demo bot with its default latencies):
# the files are it with the indexes 1 to SHARDS, so each has a real shard's names and histograms.
# HOUR=1 gives each file an hour's history (3,600 points), as a soak's shard has.
merge_files() {
    local n="${SHARDS:-100}"
    echo "== stress merge of $n shard files"
    taskset -c 1 "$BIN" run --users $((30 * n)) --spawn-rate 100000 --iterations 30 --wait 0 \
        --seed 1 --shard "1/$n" --allow-failures -q --json "$TMP/shard.json" >/dev/null
    mkdir -p "$TMP/shards"
    python3 - "$TMP" "$n" <<'PY'
import json, os, sys
tmp, n = sys.argv[1], int(sys.argv[2])
d = json.load(open(f"{tmp}/shard.json"))
if os.environ.get("HOUR"):
    # An hour's history, as a soak's shard has (a point a second, 3,600 kept).
    point = d["history"][0]
    d["history"] = [dict(point, t=t) for t in range(1, 3601)]
for i in range(1, n + 1):
    d["shard"]["index"] = i
    json.dump(d, open(f"{tmp}/shards/shard-{i}.json", "w"))
PY
    for round in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$TMP/merge.time" taskset -c 1 "$BIN" merge \
            "$TMP"/shards/shard-*.json --json "$TMP/merged.json" --allow-failures >/dev/null
        python3 - "$TMP" "$n" "$round" <<'PY'
import json, os, sys
tmp, n, r = sys.argv[1], int(sys.argv[2]), sys.argv[3]
wall, rss_kib = open(f"{tmp}/merge.time").read().split()
d = json.load(open(f"{tmp}/merged.json"))
size = os.path.getsize(f"{tmp}/shards/shard-1.json")
names = len(d["requests"])
print(f"round {r}: {n} files of {size / 1024:.0f} KiB ({names} request names), "
      f"{d['totals']['requests']} requests merged: {float(wall):.2f} s wall, "
      f"peak RSS {int(rss_kib) / 1024:.1f} MiB")
PY
    done
}

case "$MODE" in
    cpu) cpu ;;
    memory) memory ;;
    timing) timing ;;
    scaling) scaling ;;
    soak) soak ;;
    rhai) rhai_costs ;;
    instructions) instructions ;;
    deadline) deadline ;;
    open) open_model ;;
    merge) merge_files ;;
    all) cpu; memory; timing; scaling ;;
    *) echo "usage: $0 [cpu|memory|timing|scaling|rhai|instructions|soak|deadline|open|merge|all]" >&2; exit 2 ;;
esac

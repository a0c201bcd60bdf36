#!/usr/bin/env python3
"""Instructions per request from two callgrind runs of the same case, one with N tasks per user
and one with 3N (`benches/load.sh instructions` makes them). Start-up and shutdown are the same
in both, so (Ir(3N) - Ir(N)) / (requests(3N) - requests(N)) is what one more request costs, in
user-space instructions: deterministic, unlike CPU time on a shared machine.

Only the worker thread is counted (callgrind writes one file per thread): every request's work
happens there. The other threads' work is per second (the aggregator's percentiles and merges),
and under valgrind, ~50x slower, a second holds ~50x fewer requests than in a real run, so it
would be charged to each request ~50x over. The worker's own per-second handover is counted; it
is small.

usage: instructions.py PREFIX LABEL   (reads PREFIX.1-*, PREFIX.3-* and PREFIX.{1,3}.json)
"""

import collections
import glob
import json
import re
import subprocess
import sys

# Where each function's own instructions are charged; the first pattern that matches wins.
AREAS = [
    ("update built and serialized", r"serde_json::ser|SerializeMap|SerializeStruct|format_escaped|"
     r"itoa|Serialize for stress::telegram|UpdateFactory|telegram::build|telegram::wire|"
     r"command_entities"),
    ("webhook-body reply (JSON in, stand-in)", r"serde_json::de|serde_json::read|Deserialize|"
     r"botapi|BTreeMap|btree::|Params"),
    ("Rhai", r"rhai::|smallvec"),
    ("hyper, http, httparse", r"hyper|^http::|<http::|httparse|http_body"),
    ("tokio", r"tokio|mio::"),
    ("allocator", r"^mi_|^_mi_|mimalloc"),
    ("memcpy, memset, memcmp", r"__mem"),
    ("hashing", r"sip::|ahash::|hash_one|BuildHasher|hashbrown"),
    ("statistics", r"hdrhistogram|stress::stats"),
    ("clock", r"Timespec|Instant|clock_gettime|vdso"),
    ("the user's loop, coroutine, host calls", r"stress::|corosensei"),
]


def self_costs(prefix):
    """Each function's own instructions in the worker thread's profile of a run."""
    for path in sorted(glob.glob(prefix + "-*")):
        # The worker is the thread that posts updates.
        if "Vu::exchange" not in open(path, errors="replace").read():
            continue
        out = subprocess.run(
            ["callgrind_annotate", "--threshold=100", "--auto=no", path],
            capture_output=True, text=True, check=True,
        ).stdout
        costs = collections.Counter()
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*)$", line)
            if m and "PROGRAM TOTALS" not in line:
                name = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2)).split(":", 1)[-1]
                costs[name] += int(m.group(1).replace(",", ""))
        return costs
    sys.exit(f"no worker thread's profile among {prefix}-*")


def requests(path):
    return json.load(open(path))["totals"]["requests"]


def main():
    prefix, label = sys.argv[1], sys.argv[2]
    one, three = self_costs(prefix + ".1"), self_costs(prefix + ".3")
    n = requests(prefix + ".3.json") - requests(prefix + ".1.json")
    per = {k: (three[k] - one[k]) / n for k in set(one) | set(three)}
    total = sum(per.values())
    areas = collections.Counter()
    for name, ir in per.items():
        area = next((a for a, rx in AREAS if re.search(rx, name)), "other (libc, std)")
        areas[area] += ir
    print(f"{label}: {total:,.0f} instructions per request ({n} requests counted)")
    for area, ir in areas.most_common():
        print(f"    {ir:8,.0f}  {100 * ir / total:5.1f}%  {area}")


if __name__ == "__main__":
    main()

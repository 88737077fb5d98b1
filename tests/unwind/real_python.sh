#!/usr/bin/env bash
# Debian's /usr/bin/python3 (not a pyenv shim from PATH: the real binary,
# no frame pointers, no debug information; the interpreter exports its
# C API, so most of its frames have names) running a CPU-bound script:
# JSON encoding and decoding (the C accelerator, _json's module, has no
# exported names) and recursive pure-Python arithmetic. Profiled with scry's
# default unwinder next to perf --call-graph dwarf (real_lib.sh).
source "$SCRY_TESTS/unwind/real_lib.sh"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed (Debian python3)"
cat >"$WORK/work.py" <<'PY'
import json, sys

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

doc = [{"id": i, "name": "item%d" % i, "tags": ["x", "y", "z"], "value": i * 0.25, "ok": i % 3 == 0}
       for i in range(2000)]
for _ in range(int(sys.argv[1])):
    d = json.loads(json.dumps(doc))
    fib(18)
PY
real_run /usr/bin/python3 "$WORK/work.py" 500
check_real python3.11

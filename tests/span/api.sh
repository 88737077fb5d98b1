#!/usr/bin/env bash
# The span API's rules, checked inside tests/span/span_truth.c (api): parent
# links, contexts across threads, the stack of current spans, limits, status,
# samplers, NULL handles and the counters. Nothing is exported.
source "$SCRY_TESTS/lib.sh"
OTEL_TRACES_EXPORTER=none "$SCRY_BIN/tests/span_truth" api >"$WORK/out" 2>"$WORK/err" ||
  fail "span_truth api: $(cat "$WORK/out" "$WORK/err")"
cat "$WORK/out"
grep -q "^api: .* 0 failures" "$WORK/out" || fail "no summary line"
[ ! -s "$WORK/err" ] || fail "unexpected output on stderr: $(cat "$WORK/err")"
pass "span API rules"

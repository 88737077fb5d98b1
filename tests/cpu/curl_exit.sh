#!/usr/bin/env bash
# A libcurl client profiled with -p cpu exits normally and its profile is
# written: scry loads libdebuginfod (whose libcurl initialises libssh2 and
# OpenSSL) when the profile starts, not at the exit-time write after the
# program's curl_global_cleanup, which crashed the program with SIGSEGV.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p cpu -o "$WORK/o" -- "$SCRY_BIN/tests/curl_exit" >"$WORK/out" 2>"$WORK/err" ||
  fail "the program failed under scry (exit $?): $(cat "$WORK/err")"
[ -s "$WORK/o/cpu.pb.gz" ] || fail "no profile: $(cat "$WORK/err")"
go_reads "$WORK/o/cpu.pb.gz" main
pass "a libcurl client exits normally and its profile is written"

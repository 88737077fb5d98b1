#!/usr/bin/env bash
# scry threads on a threads profile whose every thread is known
# (tests/cli/make_profile --threads: seven threads, four of them on one
# stack with an inlined frame, one without a stack, one name empty, one
# with quotes, waits of 2 ms, 150 ms, 3.2 s and 5 minutes). The dump
# (--debug 2, the default) and the grouped view (--debug 1) must be these
# texts exactly. Bad flags exit 2 (one line, a blank line, the usage); a
# missing file and a profile that is not a threads profile exit 1 with one
# line. go tool pprof must read the same file and see its state labels.
set -euo pipefail
source "$SCRY_TESTS/lib.sh"
command -v go >/dev/null || fail "go is not installed (make test installs golang-go)"
p="$WORK/threads.pb.gz"
"$SCRY_BIN/tests/make_profile" "$p" --threads
"$SCRY_BIN/tests/make_profile" "$WORK/threads.pb" --threads --raw
"$SCRY_BIN/tests/make_profile" "$WORK/cpu.pb.gz"

# Frames are "<tab>function<tab>file:line"; libc's functions have no file,
# so their binary is shown; [libfoo.so.1] is a location without lines.
cat >"$WORK/want2" <<'EOF'
thread 101 "main" [running]:
	[libfoo.so.1]
	main	src/main.c:10

thread 102 "io" [poll, 150 ms]:
	poll_loop	src/io.c:7
	main	src/main.c:10

thread 150 "stuck \"gc\"" [sleeping]:
	(stack unavailable: did not answer within 100 ms)

thread 203 "" [cond wait on 0x7f12a4c0, 3.2 s]:
	pthread_cond_wait	[libc.so.6]
	queue_pop	src/queue.h:12
	worker	src/pool.c:40
	start_thread	[libc.so.6]

thread 204 "worker-2" [cond wait on 0x7f12a4c0, 5 minutes]:
	pthread_cond_wait	[libc.so.6]
	queue_pop	src/queue.h:12
	worker	src/pool.c:40
	start_thread	[libc.so.6]

thread 205 "worker-1" [cond wait on 0x7f12a4c0, 2 ms]:
	pthread_cond_wait	[libc.so.6]
	queue_pop	src/queue.h:12
	worker	src/pool.c:40
	start_thread	[libc.so.6]

thread 206 "worker-4" [running]:
	pthread_cond_wait	[libc.so.6]
	queue_pop	src/queue.h:12
	worker	src/pool.c:40
	start_thread	[libc.so.6]

EOF
# Groups by count, then by addresses; the stack-less group last of its
# count. The inlined location gives two lines with one address.
cat >"$WORK/want1" <<'EOF'
threads profile: total 7
4 @ 0x7f1000012340 0x401a10 0x7f1000094ac0
#	0x7f1000012340	pthread_cond_wait	[libc.so.6]
#	0x401a10	queue_pop	src/queue.h:12
#	0x401a10	worker	src/pool.c:40
#	0x7f1000094ac0	start_thread	[libc.so.6]
# states: cond wait 3, running 1

1 @ 0x401c00 0x401b00
#	0x401c00	poll_loop	src/io.c:7
#	0x401b00	main	src/main.c:10
# states: poll 1

1 @ 0x7f0000001000 0x401b00
#	0x7f0000001000	[libfoo.so.1]
#	0x401b00	main	src/main.c:10
# states: running 1

1 @
#	(stack unavailable)
# states: sleeping 1

EOF

n=0
same() { # want-file, scry threads arguments...
  local want=$1
  shift
  "$SCRY" threads "$@" >"$WORK/got" 2>"$WORK/e" || fail "scry threads $*: exit $?: $(cat "$WORK/e")"
  [ ! -s "$WORK/e" ] || fail "scry threads $* wrote on stderr: $(cat "$WORK/e")"
  diff -u "$want" "$WORK/got" >"$WORK/diff" || { cat "$WORK/diff" >&2; fail "scry threads $*: not the expected text"; }
  n=$((n + 1))
}
same "$WORK/want2" "$p"
same "$WORK/want2" --debug 2 "$p"
same "$WORK/want2" "$p" --debug=2
same "$WORK/want2" "$WORK/threads.pb"
same "$WORK/want1" --debug 1 "$p"
same "$WORK/want1" --debug=1 "$p"
echo "scry threads --debug 1:"
cat "$WORK/want1"

usage() { # args...
  local st
  set +e; "$SCRY" threads "$@" >"$WORK/o" 2>"$WORK/e"; st=$?; set -e
  [ "$st" = 2 ] || fail "scry threads $*: exit $st, want 2"
  head -1 "$WORK/e" | grep "^scry threads: " >/dev/null || fail "scry threads $*: first line: $(head -1 "$WORK/e")"
  [ -z "$(sed -n 2p "$WORK/e")" ] || fail "scry threads $*: second line not blank: $(cat "$WORK/e")"
  tail -n +3 "$WORK/e" | cmp -s - <("$SCRY" threads --help) || fail "scry threads $*: the usage does not follow: $(cat "$WORK/e")"
  [ ! -s "$WORK/o" ] || fail "scry threads $* printed on stdout"
  echo "exit $st: threads $(sed "s|$WORK/||g" <<<"$*"): $(head -1 "$WORK/e" | sed "s|$WORK/||g")"
  n=$((n + 1))
}
usage
usage --debug 3 "$p"
usage --debug 0 "$p"
usage --debug=12 "$p"
usage --debug= "$p"
usage --debug " 1" "$p"
usage "$p" --debug
usage -d 1 "$p"
usage --bogus "$p"
usage "$p" "$p"

fails() { # file, expected line
  local st
  set +e; "$SCRY" threads "$1" >"$WORK/o" 2>"$WORK/e"; st=$?; set -e
  [ "$st" = 1 ] || fail "scry threads $1: exit $st, want 1 ($(cat "$WORK/e"))"
  [ "$(wc -l <"$WORK/e")" = 1 ] || fail "scry threads $1: want one line on stderr, got: $(cat "$WORK/e")"
  [ ! -s "$WORK/o" ] || fail "scry threads $1 printed on stdout: $(cat "$WORK/o")"
  grep -qF "$2" "$WORK/e" || fail "scry threads $1: want '$2', got: $(cat "$WORK/e")"
  echo "exit $st: $(sed "s|$WORK/||g" "$WORK/e")"
  n=$((n + 1))
}
fails "$WORK/missing.pb.gz" "scry threads: $WORK/missing.pb.gz: No such file or directory"
fails "$WORK/cpu.pb.gz" "scry threads: $WORK/cpu.pb.gz: not a threads profile (its sample types are: samples, cpu;"
"$SCRY" threads --help | grep "^usage: scry threads" >/dev/null || fail "scry threads --help"
"$SCRY" --help | grep "^  threads " >/dev/null || fail "scry --help does not list threads"

# go tool pprof reads the same file. It leaves out samples without
# locations (its FilterSamplesByName keeps only samples with a focused
# location), so it sees six threads: thread 150 and its "sleeping" are
# not in its views, which is pprof's choice and not checked here.
raw=$(go tool pprof -raw "$p" 2>"$WORK/goerr") || fail "go tool pprof -raw: $(cat "$WORK/goerr")"
grep "^threads/count" <<<"$raw" >/dev/null || fail "go tool pprof -raw: no threads/count sample type: $raw"
grep -F "tid:[205]" <<<"$raw" >/dev/null || fail "go tool pprof -raw: no tid label: $raw"
tags=$(go tool pprof -tags "$p" 2>"$WORK/goerr") || fail "go tool pprof -tags: $(cat "$WORK/goerr")"
for want in "3.0 (50.00%): cond wait" "2.0 (33.33%): running" "1.0 (16.67%): poll" "3.0 (  100%): 0x7f12a4c0"; do
  grep -F "$want" <<<"$tags" >/dev/null || fail "go tool pprof -tags does not show '$want': $tags"
done
pass "$n checks: both views exactly as expected, bad input refused; go tool pprof reads the labels"

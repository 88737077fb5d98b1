# fd_lib.sh - what fd_reuse.sh and fd_reuse_shared.sh share (sourced after
# lib.sh): one run of fd_reuse under every profile, the live endpoint and a
# trace, and the check that the program's files are exactly its own.
PROG="$SCRY_BIN/tests/fd_reuse"

# run_fd_reuse MODE DIR [WRAPPER...]: runs fd_reuse MODE DIR under scry
# (behind WRAPPER, e.g. no_unshare); its exit status in $rc, stderr in
# DIR/stderr.
run_fd_reuse() {
  local mode=$1 d=$2
  shift 2
  mkdir -p "$d"
  rc=0
  "$@" "$SCRY" run -p cpu,heap,allocs,mutex,block,threads,wall --cpu-hz 1000 --wall-hz 1000 \
    --http 127.0.0.1:0 --trace "$d/trace.pftrace" -o "$d/out" -- "$PROG" "$mode" "$d" \
    </dev/null >"$d/stdout" 2>"$d/stderr" || rc=$?
}

# files_exact WHAT DIR: exit status 7 and files a, b and c holding exactly
# the program's 310 bytes each, or fail.
files_exact() {
  [ "$rc" = 7 ] || fail "$1: exit status $rc, want 7 (the program's): $(cat "$2/stderr")"
  local f
  for f in a b c; do
    [ "$(tr -d "$f" <"$2/$f")" = "" ] && [ "$(wc -c <"$2/$f")" = 310 ] ||
      fail "$1: file $f is not the program's 310 bytes: $(wc -c <"$2/$f") bytes: $(head -c 200 "$2/$f" | od -c | head -5)"
  done
}

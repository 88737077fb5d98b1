#!/usr/bin/env bash
# The /debug/pprof/ index read by a real browser (headless Chromium, its DOM
# after parsing): a link for every profile, the thread count on the
# goroutine and threads rows (the program's 204 threads), heap and allocs
# shown running (-p heap), and every link answering 200 except the timed
# and disabled ones, which answer as documented.
source "$SCRY_TESTS/lib.sh"
command -v chromium >/dev/null || fail "chromium is not installed (make test installs it)"
"$SCRY" run -p heap -o "$WORK/o" --http 127.0.0.1:0 -- "$SCRY_BIN/tests/http_target" 30 \
  >"$WORK/out" 2>"$WORK/err" &
run=$!
for _ in $(seq 200); do grep -q '^ready' "$WORK/out" 2>/dev/null && break; sleep 0.05; done
pid=$(awk '/^ready/ { print $2 }' "$WORK/out")
port=$(sed -n 's|^scry: serving http://127.0.0.1:\([0-9]*\)/debug/pprof/$|\1|p' "$WORK/err")
[ -n "$port" ] && [ -n "$pid" ] || fail "the program did not start: $(cat "$WORK/err")"
url="http://127.0.0.1:$port/debug/pprof/"
timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chromium" \
  --dump-dom "$url" >"$WORK/dom" 2>"$WORK/chromium.err" || fail "chromium failed: $(tail -3 "$WORK/chromium.err")"
for p in allocs block cmdline goroutine heap mutex profile threads wall; do
  grep -E "<td>[^<]*</td><td><a href=\"$p(\\?debug=1)?\">$p</a></td>" "$WORK/dom" >/dev/null ||
    fail "the index has no row for $p: $(cat "$WORK/dom")"
done
row() { sed -n "s|.*<tr><td>\\([^<]*\\)</td><td><a href=\"$1[^\"]*\">$1</a>.*|\\1|p" "$WORK/dom"; }
eq "goroutine row" "$(row goroutine)" 204
eq "threads row" "$(row threads)" 204
eq "heap row" "$(row heap)" running
eq "allocs row" "$(row allocs)" running
eq "mutex row" "$(row mutex)" off
for href in $(sed -n 's|.*<a href="\([^"]*\)">.*|\1|p' "$WORK/dom"); do
  c=$(curl -s -o /dev/null -w '%{http_code}' "$url$href?seconds=1" 2>/dev/null)
  case $href in
  mutex | block) want=404 ;; # not running: 404 naming the variable
  *) want=200 ;;
  esac
  [ "$href" = "${href%\?*}" ] || c=$(curl -s -o /dev/null -w '%{http_code}' "$url$href")
  eq "link $href" "$c" "$want"
done
kill "$pid"
wait "$run" || true
pass "the index in Chromium: every profile linked, 204 threads counted, states right, links answer"

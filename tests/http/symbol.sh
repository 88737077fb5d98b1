#!/usr/bin/env bash
# pprof never has to ask the program for symbols, and when asked,
# /debug/pprof/symbol answers as Go's does. http_symbol_target allocates
# through a library that the test strips (no DWARF, no symbol table; its
# allocating functions are static), under -p heap with the live endpoint:
#   - go tool pprof -top on /heap succeeds (it used to fail with "http post
#     .../symbol: EOF": a mapping without function names made pprof ask the
#     program), showing drive_here and the library's two functions as
#     libhttp_stripped.so+0xOFFSET, where OFFSET is nm's address of
#     stripped_grow or stripped_alloc in the unstripped build (the start of
#     the function, from .eh_frame, which strip keeps);
#   - go tool pprof -raw shows the program's and the library's mappings
#     marked symbolized ([FN]), and pprof says nothing about symbolization;
#   - GET /symbol answers "num_symbols: 1", as Go's;
#   - POST /symbol with "ADDR+ADDR+...", the addresses from nm and the
#     process's maps, answers "ADDR name" for each address of code (the
#     entry of drive_here, an address inside it, one in stripped_grow) and
#     nothing for an address of no code or a word that is not a number;
#     GET /symbol?ADDR+ADDR answers the same;
#   - a body over the limit gets 413, a POST elsewhere 405.
source "$SCRY_TESTS/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (make test installs it)"
command -v go >/dev/null || fail "go is not installed (make test installs golang-go)"
for t in strip nm; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (binutils)"; exit 0; }
done
export PPROF_TMPDIR="$WORK" # where go tool pprof saves what it fetched
prog="$SCRY_BIN/tests/http_symbol_target"
built="$SCRY_BIN/tests/libhttp_stripped.so"
lib="$WORK/libhttp_stripped.so"
cp "$built" "$lib"
strip --strip-all "$lib"
[ -z "$(nm "$lib" 2>/dev/null)" ] || fail "strip left symbols in $lib"
nm -D "$lib" | grep -q ' stripped_grow$' && fail "stripped_grow is exported"

"$SCRY" run -p heap --http 127.0.0.1:0 -o "$WORK/o" -- "$prog" "$lib" 60 >"$WORK/out" 2>"$WORK/err" &
run=$!
for _ in $(seq 200); do grep -q '^ready' "$WORK/out" 2>/dev/null && break; sleep 0.05; done
pid=$(awk '/^ready/ { print $2 }' "$WORK/out")
port=$(sed -n 's|^scry: serving http://127.0.0.1:\([0-9]*\)/debug/pprof/$|\1|p' "$WORK/err")
[ -n "$port" ] && [ -n "$pid" ] || fail "the program did not start: $(cat "$WORK/err")"
url="http://127.0.0.1:$port/debug/pprof"
stop() { kill "$pid" 2>/dev/null || true; wait "$run" || true; }
trap 'stop; rm -rf "$WORK"' EXIT

# Addresses: a function's nm value (hex) plus its object's load address
# (the mapping at file offset 0, in the process's maps).
base() { awk -v f="$1" '$6 == f && $3 ~ /^0+$/ { split($1, a, "-"); print a[1]; exit }' "/proc/$pid/maps"; }
value() { nm "$1" | awk -v s="$2" '$3 == s { print $1; exit }'; }
hex() { printf '0x%x' "$1"; }
pbase=$(base "$prog")
lbase=$(base "$lib")
drive=$(value "$prog" drive_here)
grow=$(value "$built" stripped_grow)
alloc=$(value "$built" stripped_alloc)
[ -n "$pbase" ] && [ -n "$lbase" ] && [ -n "$drive" ] && [ -n "$grow" ] && [ -n "$alloc" ] ||
  fail "addresses: program at '$pbase', library at '$lbase', drive_here '$drive', stripped_grow '$grow', stripped_alloc '$alloc'"

# 1. go tool pprof on the heap profile.
go tool pprof -top "$url/heap" >"$WORK/top" 2>"$WORK/top.err" ||
  fail "go tool pprof -top $url/heap: $(tail -3 "$WORK/top.err")"
grep -q ' drive_here$' "$WORK/top" || fail "-top does not show drive_here: $(cat "$WORK/top")"
for fn in "$grow" "$alloc"; do
  name="libhttp_stripped.so+$(hex $((16#$fn)))"
  grep -q " $name\$" "$WORK/top" || fail "-top has no $name: $(cat "$WORK/top")"
done
grep -iE 'symboliz|http post' "$WORK/top.err" && fail "pprof tried to symbolize: $(cat "$WORK/top.err")"
go tool pprof -raw "$url/heap" >"$WORK/raw" 2>&1 || fail "go tool pprof -raw: $(tail -3 "$WORK/raw")"
for f in "$prog" "$lib"; do
  m=$(awk -v f="$f" '/^Mappings/ { on = 1; next } on && $3 == f' "$WORK/raw")
  [ -n "$m" ] || fail "no mapping of $f in -raw: $(sed -n '/^Mappings/,$p' "$WORK/raw")"
  grep -q '\[FN\]' <<<"$m" || fail "the mapping of $f is not marked symbolized: $m"
done
echo "go tool pprof -top: drive_here, libhttp_stripped.so+$(hex $((16#$grow))) and +$(hex $((16#$alloc))); mappings [FN]"

# 2. /symbol.
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
eq "GET /symbol" "$(code "$url/symbol")" 200
eq "GET /symbol body" "$(cat "$WORK/body")" "num_symbols: 1"
a1=$(hex $((16#$pbase + 16#$drive)))
a2=$(hex $((16#$pbase + 16#$drive + 3)))
a3=$(hex $((16#$lbase + 16#$grow + 2)))
want="num_symbols: 1
$a1 drive_here
$a2 drive_here
$a3 libhttp_stripped.so+$(hex $((16#$grow)))"
eq "POST /symbol" "$(code --data-binary "$a1+$a2+0x10+zz+$a3" "$url/symbol")" 200
eq "POST /symbol body" "$(cat "$WORK/body")" "$want"
eq "GET /symbol?ADDRS" "$(code "$url/symbol?$a1+$a2+$a3")" 200
eq "GET /symbol?ADDRS body" "$(cat "$WORK/body")" "$want"
echo "/symbol: GET says num_symbols: 1; $a1 and $a2 are drive_here, $a3 is stripped_grow's place in the library"
head -c $((2 << 20)) /dev/zero | tr '\0' '+' >"$WORK/big"
eq "a body of 2 MiB" "$(code --data-binary "@$WORK/big" "$url/symbol")" 413
eq "POST elsewhere" "$(code --data-binary "$a1" "$url/heap")" 405
kill -0 "$pid" || fail "the program died"
pass "pprof reads the heap of a program with a stripped library without asking it for symbols; /symbol answers as Go's"

# truth_lib.sh - shared by the unwinder ground-truth scripts (leaf_share.sh,
# libc_loop.sh, wall_clock.sh), sourced after lib.sh.

# walks_ok FILE: with the hybrid unwinder, every walk of the profile must
# have reached its thread's entry: these programs, libc and the vDSO all
# have unwind tables, so a walk that ended early lost the frames above it
# (the profile's comment counts them). Other unwinders count nothing.
walks_ok() {
  local c early
  c=$("$DUMP" "$1" | sed -n 's/^comment unwinder: //p')
  case "$c" in
    hybrid*) ;;
    *) return 0 ;;
  esac
  early=$(sed -n 's/.*; \([0-9]*\) of [0-9]* stacks ended early.*/\1/p' <<<"$c")
  [ -n "$early" ] || fail "the profile does not count the stacks that ended early: $c"
  [ "$early" = 0 ] || fail "$early walks ended early, losing their callers: $c"
}

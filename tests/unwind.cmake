# Unwinder ground truth: programs whose time goes where frame pointers
# cannot follow (a frameless leaf, libc, the vDSO), each checked against
# what the program measured itself, with the default unwinder.
#
# leaf_share and libc_loop are built three ways, as users build:
#   _fp     gcc -O2 -g -fno-omit-frame-pointer (GCC 12 still keeps no
#           frame in a leaf that needs no stack: leaf_share.sh shows it)
#   _nofp   gcc -O2 -g -fomit-frame-pointer (the -O2 default)
#   _clang  clang -O2 -g (no frame pointers by default on x86-64)
# The gcc builds are plain executables. The project's flags add
# -fno-omit-frame-pointer to every target; a target's own options come
# after them on the command line, so -fomit-frame-pointer wins. The clang
# build is a custom command, with only the flags given here.
#
# In the sanitizer build the programs are not instrumented (-fno-sanitize=all,
# and the clang command never gets the sanitizer flags): instrumentation
# would give leaf_work a frame and change the code under test; the library
# they preload is instrumented, and its unwinder is what these tests run.
find_program(SCRY_TEST_CLANG NAMES clang)

set(UNWIND_TRUTH leaf_share libc_loop)
foreach(p ${UNWIND_TRUTH})
  foreach(v fp nofp)
    add_executable(${p}_${v} unwind/${p}.c)
    target_link_libraries(${p}_${v} PRIVATE Threads::Threads)
    if(SCRY_SANITIZE)
      target_compile_options(${p}_${v} PRIVATE -fno-sanitize=all)
      target_link_options(${p}_${v} PRIVATE -fno-sanitize=all)
    endif()
  endforeach()
  target_compile_options(${p}_fp PRIVATE -O2 -g -fno-omit-frame-pointer)
  target_compile_options(${p}_nofp PRIVATE -O2 -g -fomit-frame-pointer)
  # Without clang the _clang tests report SKIP (the binary is missing).
  if(SCRY_TEST_CLANG)
    set(out ${CMAKE_BINARY_DIR}/tests/${p}_clang)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${SCRY_TEST_CLANG} -O2 -g -Wall -Wextra -pthread -o ${out}
              ${CMAKE_CURRENT_SOURCE_DIR}/unwind/${p}.c
      DEPENDS unwind/${p}.c unwind/leaf_common.h
      COMMENT "Building ${p}_clang with clang -O2 -g")
    add_custom_target(${p}_clang ALL DEPENDS ${out})
  endif()
endforeach()

add_executable(wall_clock unwind/wall_clock.c)
target_compile_options(wall_clock PRIVATE -O2 -g -fno-omit-frame-pointer)
if(SCRY_SANITIZE)
  target_compile_options(wall_clock PRIVATE -fno-sanitize=all)
  target_link_options(wall_clock PRIVATE -fno-sanitize=all)
endif()

# 1. A frameless leaf shared by two callers, 3:1 (leaf_share.sh), at 100 and
# 1000 Hz, with T = 500 ms at 100 Hz and 300 ms at 1000 Hz (leaf_share.sh
# says why).
foreach(v fp nofp clang)
  foreach(hz 100 1000)
    set(t unwind_leaf_share_${v}_${hz}hz)
    scry_shell_test(${t} unwind/leaf_share.sh pprof)
    if(hz EQUAL 100)
      set(ms 500)
    else()
      set(ms 300)
    endif()
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "VARIANT=${v};CPU_HZ=${hz};T_MS=${ms}")
    list(APPEND UNWIND_SERIAL ${t})
  endforeach()
  # 2. libc in the hot loop (libc_loop.sh).
  set(t unwind_libc_loop_${v})
  scry_shell_test(${t} unwind/libc_loop.sh)
  set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "VARIANT=${v}")
  list(APPEND UNWIND_SERIAL ${t})
endforeach()

# 3. The wall profile of a loop that reads the clock every turn (wall_clock.sh).
scry_shell_test(unwind_wall_clock unwind/wall_clock.sh)
list(APPEND UNWIND_SERIAL unwind_wall_clock)

# CPU-bound (leaf_share on both cores) or timing wall time: keep them apart.
set_tests_properties(${UNWIND_SERIAL} PROPERTIES RUN_SERIAL TRUE)

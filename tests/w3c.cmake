# Tests of W3C Trace Context and the samplers (src/span/w3c.c).

# The public functions (traceparent, tracestate, carriers), as a program
# linked with libscry.so.
add_executable(w3c_api w3c/w3c_api.c)
target_compile_options(w3c_api PRIVATE -O1 -g)
target_link_libraries(w3c_api PRIVATE scry)
add_test(NAME w3c_api COMMAND w3c_api)
set_tests_properties(w3c_api PROPERTIES LABELS "sanitize" ENVIRONMENT "${SCRY_TEST_ENV}" TIMEOUT 60)

# The samplers (scry__sampler_*): libscry.so hides them, so w3c.c is
# compiled into the driver.
add_executable(w3c_sampler w3c/w3c_sampler.c ${CMAKE_SOURCE_DIR}/src/span/w3c.c)
target_include_directories(w3c_sampler PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
target_compile_options(w3c_sampler PRIVATE -O1 -g)
target_link_libraries(w3c_sampler PRIVATE m)
add_test(NAME w3c_sampler COMMAND w3c_sampler)
set_tests_properties(w3c_sampler PROPERTIES LABELS "sanitize" ENVIRONMENT "${SCRY_TEST_ENV}"
                     TIMEOUT 60)

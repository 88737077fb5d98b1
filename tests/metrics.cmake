# Metrics tests: a program linked with scry whose user metrics have known
# values, scraped at /metrics by promtool and by a real Prometheus server.
# Built like api_linked: in the sanitizer build the program is instrumented
# too and links the instrumented library (it allocates nothing scry must see).
add_executable(metrics_target metrics/metrics_target.c)
target_compile_options(metrics_target PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(metrics_target PRIVATE scry Threads::Threads)

scry_shell_test(metrics_promtool metrics/promtool.sh)
scry_shell_test(metrics_prometheus metrics/prometheus.sh)
# Prometheus scrapes every second against a deadline: keep it apart.
set_tests_properties(metrics_prometheus PROPERTIES RUN_SERIAL TRUE)

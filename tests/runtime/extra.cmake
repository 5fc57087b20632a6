# The runtime tests' own CTest rules.
# runtime/rtimer asserts timer lateness (< 1 ms p50) when the machine is
# quiet: run it alone, so that the suite's other tests do not load the
# machine between its quietness probes.
set_tests_properties(runtime/rtimer PROPERTIES RUN_SERIAL TRUE)

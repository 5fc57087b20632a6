# rate_redis needs hiredis (CMakeLists.txt builds this module only when
# pkg-config finds it): its reply reader and types.
target_link_libraries(keel_rate_redis_obj PUBLIC PkgConfig::HIREDIS)
target_link_libraries(keel_rate_redis PUBLIC PkgConfig::HIREDIS)
list(APPEND KEEL_EXTERNAL_LIBS PkgConfig::HIREDIS)

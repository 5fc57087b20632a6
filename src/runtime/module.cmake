# The runtime needs GNU extensions (pthread_getattr_np, MAP_STACK, ...).
target_compile_definitions(keel_runtime_obj PRIVATE _GNU_SOURCE)

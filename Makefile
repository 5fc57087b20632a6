# keel: the two commands of the quick start are `make run` and `make check`.
# Everything is built by CMake; this file only wraps it.

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
CMAKE   ?= cmake

.PHONY: all build run check check-plain check-asan check-tsan check-aarch64 bench clean deps-build deps-check deps-bench

all: build

deps-build:
	@scripts/deps.sh build
deps-check:
	@scripts/deps.sh check
deps-bench:
	@scripts/deps.sh bench

# $(call configure,dir,extra cmake args)
define configure
	@$(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(2) >/dev/null
endef

build: deps-build
	$(call configure,$(BUILD),)
	@echo "building keel in $(BUILD)/ (log: $(BUILD)/build.log)"
	@$(CMAKE) --build $(BUILD) -j $(JOBS) >$(BUILD)/build.log 2>&1 || { cat $(BUILD)/build.log; exit 1; }

# The tour: one short scenario per capability, in the order keel builds them.
run: build
	@scripts/tour.sh $(BUILD)

# The whole suite three ways: plain -O2, ASan+UBSan, TSan; then a cross
# build for aarch64 whose runtime floors' tests run under qemu-user
# (scripts/check-cross.sh installs what it needs itself, as root).
check: deps-check
	@scripts/check.sh

check-plain check-asan check-tsan: deps-check
	@scripts/check.sh $(patsubst check-%,%,$@)

check-aarch64:
	@scripts/check.sh aarch64

bench: deps-bench build
	@bench/run.sh $(BUILD)

clean:
	rm -rf build build-*

# ringstack — one non-recursive Makefile for the whole tree.
#
#   make            build every library, daemon, test and benchmark binary
#   make test       build and run every test suite (unit, two-process, TSan, fuzz corpora)
#   make test SAN=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      run the benchmarks side by side with their baselines
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each
#   make run        the main job (see README.md)
#
# Sources are discovered, not listed: shm/*.c make libshm.a, proto/**/*.c make
# libproto.a, tests/unit/test_*.c each make one cmocka test binary, bench/*.c each
# make one benchmark, tests/fuzz/fuzz_*.c each make one libFuzzer target.

SHELL      := /bin/bash
V          ?= 0
Q          := $(if $(filter 1,$(V)),,@)
say         = $(if $(filter 1,$(V)),,@printf '  %-6s %s\n' $(1) $(2))
CC         ?= gcc
SAN        ?= 0
BUILD      := build$(if $(filter 1,$(SAN)),-san)

WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wno-missing-field-initializers
# The hardening Debian's dpkg-buildflags applies with hardening=+all.
HARDEN     := -fstack-protector-strong -Wformat -Werror=format-security \
              -fcf-protection -fPIE
HARDEN_CPP := -D_FORTIFY_SOURCE=2
HARDEN_LD  := -pie -Wl,-z,relro -Wl,-z,now

ifeq ($(SAN),1)
  SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  HARDEN_CPP :=
  OPT        := -O1
  DEBUGDEF   := -DPKB_DEBUG=1
else
  SANFLAGS   :=
  OPT        := -O2
  DEBUGDEF   :=
endif

CPPFLAGS   := -I. $(HARDEN_CPP) $(DEBUGDEF) -D_GNU_SOURCE
CFLAGS     := -std=gnu11 $(OPT) -g -march=x86-64-v2 $(WARN) $(HARDEN) $(SANFLAGS)
LDFLAGS    := $(HARDEN_LD) $(SANFLAGS)
LDLIBS     := -lnuma -lpthread

# ---------------------------------------------------------------- sources
SHM_SRC    := $(wildcard shm/*.c)
PROTO_SRC  := $(wildcard proto/*.c proto/*/*.c)
TSUP_SRC   := $(wildcard tests/support/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TSAN_SRC   := $(wildcard tests/tsan/test_*.c)
BENCH_SRC  := $(wildcard bench/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj        = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBSHM     := $(BUILD)/libshm.a
LIBPROTO   := $(BUILD)/libproto.a
LIBTSUP    := $(BUILD)/libtestsupport.a
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TSAN_BIN   := $(patsubst tests/tsan/%.c,$(BUILD)/tsan/%,$(TSAN_SRC))
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

.PHONY: all deps test unit tsan fuzz-corpus fuzz bench run check-includes clean
.DEFAULT_GOAL := all


deps:
	@./scripts/install-deps.sh

check-includes:
	@./scripts/check-includes.sh

# ---------------------------------------------------------------- objects
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBSHM): $(call obj,$(SHM_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(LIBPROTO): $(call obj,$(PROTO_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(LIBTSUP): $(call obj,$(TSUP_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

# ---------------------------------------------------------------- unit tests
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBTSUP) $(LIBPROTO) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(LDLIBS) -lm

# ThreadSanitizer builds compile shm/ again with -fsanitize=thread (it cannot mix
# with ASan, and every access must be instrumented).
TSAN_FLAGS := -std=gnu11 -O1 -g -fsanitize=thread -I. -D_GNU_SOURCE $(WARN)
$(BUILD)/tsan/%: tests/tsan/%.c $(SHM_SRC) $(wildcard shm/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(TSAN_FLAGS) $< $(SHM_SRC) -o $@ -lcmocka $(LDLIBS)

# ---------------------------------------------------------------- daemons and tools
# Each daemon folder with sources builds one binary named after it; the
# tools under tests/tools/ (fake peers, hostile apps) build one binary each.
DAEMONS    := $(foreach d,nicd netd sockd ctl,$(if $(wildcard $(d)/*.c),$(d)))
DAEMON_BIN := $(patsubst %,$(BUILD)/bin/%,$(DAEMONS))
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))
DAEMON_LIBS := -luring -lsystemd $(LDLIBS) -lm

.SECONDEXPANSION:
# Keep object files that only a pattern rule names (daemon objects).
.SECONDARY:
$(BUILD)/bin/%: $$(call obj,$$(wildcard $$*/*.c)) $(LIBPROTO) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DAEMON_LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBTSUP) $(LIBPROTO) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DAEMON_LIBS)

# ---------------------------------------------------------------- libsock.so
# The LD_PRELOAD shim: libsock/*.c plus shm/ compiled position-independent,
# hidden visibility, exporting only what libsock/libsock.map lists. Never
# sanitized: it is preloaded into programs that are not.
LIBSOCK_SRC := $(wildcard libsock/*.c)
LIBSOCK_SO  := $(if $(LIBSOCK_SRC),$(BUILD)/lib/libringstack.so)
pic         = $(patsubst %.c,$(BUILD)/pic/%.o,$(1))

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(filter-out -fPIE $(SANFLAGS),$(CFLAGS)) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD)/lib/libringstack.so: $(call pic,$(LIBSOCK_SRC) $(SHM_SRC)) libsock/libsock.map
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -shared $(filter-out -pie $(SANFLAGS),$(LDFLAGS)) -Wl,--version-script=libsock/libsock.map \
	    $(filter %.o,$^) -o $@ -ldl -lpthread -lnuma

# ---------------------------------------------------------------- benchmarks
# DPDK's rte_ring and Concurrency Kit's ck_ring are baselines only: they link
# into the ring benchmark and nowhere else.
DPDK_CFLAGS = $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS   = $(shell pkg-config --libs libdpdk 2>/dev/null)
$(BUILD)/bench/ring_bench: bench/ring_bench.c $(LIBSHM)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g -march=native -Wall -Wextra -Wno-unused-parameter \
	    $(SANFLAGS) $(DPDK_CFLAGS) $< $(LIBSHM) -o $@ $(DPDK_LIBS) -lck $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBPROTO) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS) -lm

# ---------------------------------------------------------------- fuzzing
# libFuzzer targets are built with clang; each links the sources it fuzzes.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -std=gnu11 -O1 -g -I. -D_GNU_SOURCE -DPKB_DEBUG=1 \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(BUILD)/fuzz/%: tests/fuzz/%.c $(SHM_SRC) $(PROTO_SRC) $(TSUP_SRC)
	@mkdir -p $(dir $@)
	$(call say,CLANG,$@)
	$(Q)clang $(FUZZ_FLAGS) $^ -o $@ $(LDLIBS) -lm

# ---------------------------------------------------------------- running
# (all is defined here, after every variable it names: a rule's prerequisites
# are expanded when make reads the rule.)
all: check-includes $(LIBSHM) $(LIBPROTO) $(UNIT_BIN) $(TSAN_BIN) $(BENCH_BIN) $(DAEMON_BIN) $(TOOL_BIN) $(LIBSOCK_SO)
test: deps all $(FUZZ_BIN)
	@./tests/run-all.sh $(BUILD)

fuzz: deps $(FUZZ_BIN)
	@./tests/fuzz/run-fuzz.sh $(BUILD) $(FUZZ_SECONDS)

bench: deps all
	@./bench/run-bench.sh $(BUILD)

run: deps all
	@./scripts/run.sh $(BUILD)

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj $(BUILD)/pic -name '*.d' 2>/dev/null)

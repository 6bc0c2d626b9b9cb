# Rampart build.
#   make            release build: build/rampart
#   make asan       ASan+UBSan build: build-asan/rampart (what the tests use)
#   make test       the whole test suite (unit tests and integration tests on the sanitizer build, fuzz smoke)
#   make fuzz FUZZ_SECONDS=600   run every fuzz target for that long each
#   make run        build and start the broker in the foreground on its built-in configuration
#
# Every .c file under src/ is compiled; src/main.c is the only file outside the library.
# Every tests/unit/test_*.c is one unit-test program; every tests/fuzz/fuzz_*.c one libFuzzer target.

MAKEFLAGS   += --no-print-directory
VERSION     := 0.1.0
BUILD       ?= build
CC          ?= cc
PKGS        := openssl libargon2 jansson libseccomp lmdb sqlite3 pwquality libsystemd
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN        := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
               -Wno-unused-parameter -Wvla
OPT         ?= -O2 -g
SAN         ?=
CPPFLAGS    += -D_GNU_SOURCE -DRAMPART_VERSION='"$(VERSION)"' -Isrc
CFLAGS_ALL   = -std=c11 $(OPT) $(SAN) $(WARN) -fno-strict-aliasing $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL   = $(SAN) $(PKG_LIBS) -lpthread -lm $(LDLIBS)

LIB_SRC     := $(sort $(shell find src -name '*.c' ! -path src/main.c))
LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES  := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 4
PYTEST      ?= /usr/bin/python3 -m pytest

.PHONY: all asan test unit unit-run integration integration-run unit-bins fuzz fuzz-build fuzz-smoke run clean check-deps format tls-scan

all: $(BUILD)/rampart

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/librampart.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/rampart: $(BUILD)/obj/src/main.o $(BUILD)/librampart.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/librampart.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

unit-bins: $(UNIT_BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- sanitizer build ---------------------------------------------------------------------------
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g" SAN="$(ASAN_FLAGS)" all unit-bins

# ---- tests -------------------------------------------------------------------------------------
export ASAN_OPTIONS  := detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1

unit: asan
	$(MAKE) unit-run

unit-run:
	@pass=0; fail=0; for t in $(UNIT_BIN:$(BUILD)/%=build-asan/%); do \
	    if $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit programs: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

integration: asan
	$(MAKE) integration-run

integration-run:
	./scripts/bootstrap-npm.sh
	RAMPART_BIN=$(CURDIR)/build-asan/rampart $(PYTEST) -q -p no:cacheprovider tests/integration

# Sequential on purpose: the sub-makes share build directories. The pytest summary is the closing line.
test:
	$(MAKE) asan
	$(MAKE) unit-run
	$(MAKE) fuzz-smoke
	$(MAKE) integration-run

# ---- fuzzing (clang libFuzzer) -----------------------------------------------------------------
FUZZ_BUILD := build-fuzz
fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g" \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" $(FUZZ_BUILD)/librampart.a
	@mkdir -p $(FUZZ_BUILD)/fuzz
	@for n in $(FUZZ_NAMES); do \
	    echo "  FUZZ $$n"; \
	    clang $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined $(WARN) $(PKG_CFLAGS) \
	        tests/fuzz/$$n.c $(FUZZ_BUILD)/librampart.a $(PKG_LIBS) -lpthread -lm -o $(FUZZ_BUILD)/fuzz/$$n || exit 1; \
	done

# Each target runs over its committed corpus, then mutates for FUZZ_SMOKE_SECONDS.
fuzz-smoke: fuzz-build
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    dict=""; [ -f tests/fuzz/mqtt.dict ] && dict="-dict=tests/fuzz/mqtt.dict"; \
	    $(FUZZ_BUILD)/fuzz/$$n $$dict -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=0 \
	        -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n \
	        >$(FUZZ_BUILD)/$$n.log 2>&1 || { tail -40 $(FUZZ_BUILD)/$$n.log; echo "fuzz target $$n FAILED"; exit 1; }; \
	    echo "fuzz $$n: $$(grep -o 'DONE.*' $(FUZZ_BUILD)/$$n.log | tail -1) ok"; \
	done

# Long runs: new inputs land in tests/fuzz/corpus/NAME so they can be committed.
fuzz: fuzz-build
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p tests/fuzz/corpus/$$n; \
	    dict=""; [ -f tests/fuzz/mqtt.dict ] && dict="-dict=tests/fuzz/mqtt.dict"; \
	    $(FUZZ_BUILD)/fuzz/$$n $$dict -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_BUILD)/ \
	        tests/fuzz/corpus/$$n || exit 1; \
	done

# ---- benchmark ---------------------------------------------------------------------------------
# Rampart (release build) against Debian's mosquitto on loopback, a few minutes; results also go to
# docs/performance.md. More rounds or longer runs: make bench BENCH_ARGS="--rounds 5 --duration 5".
.PHONY: bench
bench: all
	/usr/bin/python3 scripts/bench-compare.py $(BENCH_ARGS)

# ---- running -----------------------------------------------------------------------------------
# First run: a private CA and server certificate in state/ (gitignored); then MQTT 1883, TLS 8883, WebSocket
# 8083 and secure WebSocket 8084 on loopback (scripts/run.conf).
run: all
	scripts/tls-ca.sh init state
	./$(BUILD)/rampart -v -c scripts/run.conf

# TLS scan (slow: minutes): sslscan + testssl against a broker with TLS and secure WebSocket listeners.
tls-scan: all
	scripts/tls-scan.sh $(BUILD)/rampart

format:
	clang-format -i $$(find src tests -name '*.[ch]')

clean:
	rm -rf build build-asan build-fuzz

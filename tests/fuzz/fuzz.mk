# tests/fuzz/fuzz.mk -- libFuzzer targets for every parser of outside input
# (issue 9). Included at the end of GNUmakefile: after its variables (CSTD,
# WARN, PG_INC, URCU_CFLAGS, SHM_SRC, LDLIBS, APOLOD_LIBS) and after `all`,
# which stays the default goal. See tests/fuzz/README.md.
#
#   make fuzz          each target for FUZZ_SECONDS (60), one after the other;
#                      new inputs are kept in build/fuzz/corpus/<target>/
#   make fuzz-check    each target for FUZZ_CHECK_SECONDS (20), FUZZ_JOBS (2)
#                      at a time, then every file of tests/fuzz/crashes/
#                      <target>/ replayed; fails on any crash; prints
#                      "FUZZ <target> <execs> execs" and the coverage
#   make fuzz-build    the programs only: build/fuzz/fuzz_<target>
#   make fuzz-seeds    the seed corpus, build/fuzz/seeds/<target>/, made from
#                      the fixtures by tests/fuzz/seeds.py
#   FUZZ_TARGETS="jrec esl" make fuzz    a subset
#
# A target is tests/fuzz/fuzz_<name>.c (its header comment says what it
# checks beyond "no crash"). The project's sources it needs are compiled
# again here with clang, AddressSanitizer, UndefinedBehaviorSanitizer and
# libFuzzer's coverage, into build/fuzz/ (never mixed with build/debug).
# Needs the Debian packages clang and libclang-rt-14-dev (libFuzzer's
# runtime), python3 (the seeds); llvm gives llvm-symbolizer (readable
# stacks).

FUZZ_CC       ?= clang
FUZZ_O        := build/fuzz
FUZZ_SAN      := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   := $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer -I. \
                 $(PG_INC) $(URCU_CFLAGS) $(FUZZ_SAN) -MMD -MP
FUZZ_SECONDS       ?= 60
FUZZ_CHECK_SECONDS ?= 20
FUZZ_JOBS          ?= 2

FUZZ_ALL      := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_BINS     := $(FUZZ_ALL:%=$(FUZZ_O)/fuzz_%)

# What the targets link, as archives (a program takes only the members it
# uses): the whole of shm/, the parsers of admin/ and workers/ and what the
# HTTP-facing ones drag in, and the helpers of tests/fuzz/ (http_stub.c
# compiles admin/http.c with a fake civetweb connection; zipbuild.c makes
# XLSX containers). fuzz_ingest.c and fuzz_bulk_file.c include
# admin/api_ingest.c and admin/api_bulk.c themselves (their parsers are
# static), so those two are not in the admin archive.
FUZZ_ADMIN_SRC  := admin/auth_hash.c admin/money_common.c admin/xml_cdr.c \
                   admin/bulk_csv.c admin/xlsx.c admin/deck_csv.c \
                   $(wildcard admin/alert*.c)
FUZZ_WORKER_SRC := workers/esl_proto.c workers/cucm_cdr.c
FUZZ_HELP_SRC   := tests/fuzz/http_stub.c tests/fuzz/zipbuild.c
FUZZ_LIBS     := $(FUZZ_O)/libfuzz_help.a $(FUZZ_O)/libfuzz_admin.a \
                 $(FUZZ_O)/libfuzz_workers.a $(FUZZ_O)/libfuzz_shm.a

.PHONY: fuzz fuzz-check fuzz-build fuzz-seeds
fuzz-build: $(FUZZ_BINS)

$(FUZZ_O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_O)/libfuzz_shm.a: $(SHM_SRC:%.c=$(FUZZ_O)/%.o)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_O)/libfuzz_admin.a: $(FUZZ_ADMIN_SRC:%.c=$(FUZZ_O)/%.o)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_O)/libfuzz_workers.a: $(FUZZ_WORKER_SRC:%.c=$(FUZZ_O)/%.o)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_O)/libfuzz_help.a: $(FUZZ_HELP_SRC:%.c=$(FUZZ_O)/%.o)
	@rm -f $@
	ar rcs $@ $^

# (the targets' objects are kept: they are not mere intermediates)
.SECONDARY: $(FUZZ_ALL:%=$(FUZZ_O)/tests/fuzz/fuzz_%.o)
$(FUZZ_O)/fuzz_%: $(FUZZ_O)/tests/fuzz/fuzz_%.o $(FUZZ_LIBS)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $< -Wl,--start-group $(FUZZ_LIBS) \
	  -Wl,--end-group $(LDLIBS) $(APOLOD_LIBS)

# The seed corpus, rebuilt when the script or a fixture changes.
FUZZ_FIXTURES := $(shell find tests/fixtures ../shared/fixtures -type f 2>/dev/null)
$(FUZZ_O)/seeds.stamp: tests/fuzz/seeds.py $(FUZZ_FIXTURES)
	@mkdir -p $(FUZZ_O)
	python3 tests/fuzz/seeds.py $(FUZZ_O)/seeds
	@touch $@
fuzz-seeds: $(FUZZ_O)/seeds.stamp

fuzz: $(FUZZ_BINS) $(FUZZ_O)/seeds.stamp
	tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) 1 $(FUZZ_O) $(FUZZ_TARGETS)

fuzz-check: $(FUZZ_BINS) $(FUZZ_O)/seeds.stamp
	tests/fuzz/run.sh check $(FUZZ_CHECK_SECONDS) $(FUZZ_JOBS) $(FUZZ_O) \
	  $(FUZZ_TARGETS)

# fuzz.mk — builds the libFuzzer targets of tests/fuzz/ (run by run.sh:
#   make -f tests/fuzz/fuzz.mk -j2 from the repository root).
#
# Every object is compiled by clang with libFuzzer's coverage, ASan and UBSan
# (-fno-sanitize-recover: undefined behaviour aborts, so libFuzzer keeps the
# input); outputs go to build/fuzz/. Only what a target needs is linked: the
# core, the api, and for http_match server/http/ with the logging and
# metrics it calls.

CC      := clang
B       := build/fuzz
PKGS    := libcjson openblas libmicrohttpd
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS  := -std=c11 -D_GNU_SOURCE -O1 -g -pthread -fno-math-errno -I. -I$(B) \
           $(shell pkg-config --cflags $(PKGS)) $(SAN) -fsanitize=fuzzer-no-link
LDFLAGS := $(SAN) -fsanitize=fuzzer
LIBS    := $(shell pkg-config --libs $(PKGS) sqlite3) -lm -pthread

LIB_SRC  := $(wildcard core/*.c) $(wildcard api/*.c)
HTTP_SRC := $(wildcard server/http/*.c) server/log.c server/metrics.c
TARGETS  := model dataset job weights instances evaluate csv float model_state train_state http_match v2_infer sweep

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

all: $(addprefix $(B)/bin/fuzz_,$(TARGETS))

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The real route patterns, extracted from the route table.
$(B)/routes.inc: server/routes/route.c
	@mkdir -p $(dir $@)
	grep -oE '^\s*\{"(GET|POST|PUT|DELETE|PATCH)", "[^"]*"' $< | sed -E 's/.*", "([^"]*)"/"\1",/' | sort -u > $@.tmp
	test -s $@.tmp && mv $@.tmp $@

$(B)/obj/tests/fuzz/fuzz_http_match.o: $(B)/routes.inc

$(B)/bin/fuzz_http_match: $(B)/obj/tests/fuzz/fuzz_http_match.o $(call obj,$(HTTP_SRC) $(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/bin/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
.PHONY: all
.SECONDARY:

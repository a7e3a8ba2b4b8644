# fitd — build, test, run.
#
#   make          build build/fitd
#   make run      install what is missing, build, serve on 127.0.0.1:8080 with ./fitd.db
#   make test     install what is missing, build, run every test (layers, unit — once per BLAS
#                 kernel set the CPU can run —, ASan+UBSan, integration, web, quick soak)
#   make check-layers  fail when an include or SQL is in the wrong folder
#   make check-docs    docs/API.md, docs/openapi.yaml and README.md against the code
#   make openapi-json  docs/openapi.json (served at GET /openapi.json) from docs/openapi.yaml
#   make bench    core training benchmark (a table), PyTorch side by side
#
# Objects go to build/<variant>/, one variant per set of flags: rel (the -O2
# binary), san (AddressSanitizer + UndefinedBehaviorSanitizer), tsan.

CC       ?= cc
PKGS     := libmicrohttpd libcjson sqlite3 libpq openblas libcrypto
DEB_PKGS := build-essential pkg-config libmicrohttpd-dev libcjson-dev libsqlite3-dev check \
            libopenblas-dev libssl-dev libpq-dev postgresql-15 libjs-chart.js curl python3 sqlite3 python3-torch python3-onnx python3-yaml python3-sklearn
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS  ?= -O2 -g
# -fno-math-errno lets sqrtf vectorise; it changes no result.
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fno-math-errno -pthread -I. $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -pthread

SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer

# server/ and tests/unit/ have sub-folders (server/http, routes, store, jobs;
# tests/unit mirrors the source tree): every .c below them is picked up.
CORE_SRC   := $(wildcard core/*.c)
API_SRC    := $(wildcard api/*.c)
SERVER_SRC := $(filter-out server/main.c,$(sort $(shell find server -name '*.c')))
UNIT_SRC   := $(sort $(shell find tests/unit -name 'test_*.c'))

B := build

.PHONY: all run test check-layers check-docs check-schema openapi-json test-unit test-san test-integration test-pg test-tsan test-web test-soak-quick \
        test-container test-mutants bench fuzz soak deps clean
all: $(B)/fitd

# ---- object variants -------------------------------------------------------
$(B)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@
$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(SAN_FLAGS) -MMD -MP -c $< -o $@
$(B)/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(TSAN_FLAGS) -MMD -MP -c $< -o $@

objs = $(patsubst %.c,$(B)/$(1)/%.o,$(2))

$(B)/fitd: $(call objs,rel,server/main.c $(SERVER_SRC) $(API_SRC) $(CORE_SRC))
	$(CC) -o $@ $^ $(LDLIBS)
$(B)/fitd-tsan: $(call objs,tsan,server/main.c $(SERVER_SRC) $(API_SRC) $(CORE_SRC))
	$(CC) $(TSAN_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/unit: $(call objs,rel,$(UNIT_SRC) tests/unit/check_main.c $(SERVER_SRC) $(API_SRC) $(CORE_SRC))
	$(CC) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(B)/unit-san: $(call objs,san,$(UNIT_SRC) tests/unit/check_main.c $(SERVER_SRC) $(API_SRC) $(CORE_SRC))
	$(CC) $(SAN_FLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(B)/bench: $(call objs,rel,bench/bench.c server/kernels.c server/jobs/par.c $(CORE_SRC))
	$(CC) -o $@ $^ $(LDLIBS)

# The bare libmicrohttpd handler that tests/load/predict_speed.py measures fitd against.
$(B)/bare: tests/load/bare.c
	@mkdir -p $(B)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---- packages ----------------------------------------------------------------
# Installs the Debian packages that are missing (needs root and apt); a no-op
# when everything is there.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# ---- run -------------------------------------------------------------------------
run: deps
	$(MAKE) $(B)/fitd
	./$(B)/fitd --bind 127.0.0.1 --port 8080 --db ./fitd.db

# ---- tests -----------------------------------------------------------------------
# CK_FORK=no under the sanitizers so that LeakSanitizer sees the whole process.
test: deps
	$(MAKE) check-layers check-docs check-schema test-unit test-san test-integration test-web test-soak-quick

# The folders' rules (docs/STYLE.md): core <- api <- server, libmicrohttpd only
# in server/http, SQL only in server/store, jobs never HTTP. The self-test
# breaks each rule in a scratch tree first, so a check that cannot fail fails.
check-layers:
	python3 tests/check_layers.py --self-test
	python3 tests/check_layers.py

# The contract's route and error tables and the README's configuration table
# against the code; docs/openapi.yaml through Redocly's linter (tests/docs).
# docs/openapi.json must be exactly the conversion of docs/openapi.yaml
# (/usr/bin/python3: Debian's, with python3-yaml).
check-docs: $(B)/fitd
	python3 tests/check_docs.py --binary $(B)/fitd
	/usr/bin/python3 tests/docs/yaml2json.py --check
	bash tests/docs/lint.sh

# The PostgreSQL schema (migrations/postgres) against SQLite's (migrations/sqlite),
# on a real PostgreSQL 15 started for it: the same tables, columns, keys, indexes.
check-schema:
	/usr/bin/python3 tests/pg/check_schema.py

# The server has no YAML parser: it serves this generated, committed twin.
openapi-json:
	/usr/bin/python3 tests/docs/yaml2json.py

# The whole suite as the environment has it, then the computing suites once
# per BLAS kernel set the CPU can run and with the automatic choice.
test-unit: $(B)/unit
	./$(B)/unit
	bash tests/unit/kernel_sets.sh ./$(B)/unit

test-san: $(B)/unit-san
	CK_FORK=no ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./$(B)/unit-san

test-integration: $(B)/fitd
	python3 tests/integration/run.py --binary ./$(B)/fitd

# The whole integration suite again with every server on a fresh database of one
# real PostgreSQL 15 (tests/pg/pgserver.py), the multi-node suite at full size, and
# the test server's own checks. make test runs the multi-node suite's quick version.
test-pg: $(B)/fitd
	/usr/bin/python3 tests/pg/test_pgserver.py
	FITD_TEST_FULL=1 python3 tests/integration/run.py --binary ./$(B)/fitd --backend postgres

test-tsan: $(B)/fitd-tsan
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		python3 tests/integration/run.py --binary ./$(B)/fitd-tsan --slow-ok

# A missing suite script is a failure (bash: No such file), never a silent pass.
test-web: $(B)/fitd
	bash tests/web/run.sh ./$(B)/fitd

# Slow clients, a short crash loop, idempotency under concurrency, limits (~1 min);
# `make soak` runs them at full length, with load and disk-full tests.
test-soak-quick: $(B)/fitd
	bash tests/soak/run.sh --quick

test-container:
	bash tests/container/run.sh

fuzz:
	bash tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

soak:
	bash tests/soak/run.sh

# Small deliberate breaks of the sources (tests/mutants/mutants.tsv), each
# built in a scratch copy and run against the tests that target it: fails
# when a mutant survives or a mutant's snippet is no longer in the source.
test-mutants:
	python3 tests/mutants/run.py

# The core's table on the kernels the server would use, then PyTorch side by
# side when Debian's python3-torch and ../shared/bench are there (it says so
# and skips itself otherwise).
bench: deps
	$(MAKE) $(B)/bench
	./$(B)/bench
	python3 bench/vs_torch.py

clean:
	rm -rf $(B)

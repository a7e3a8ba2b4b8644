#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] — fitd's fuzzing pass (make fuzz; CI runs it
# with 60).
#
# Installs clang and libFuzzer's runtime when missing (Debian: clang,
# libclang-rt-14-dev), builds every target of tests/fuzz/fuzz.mk into
# build/fuzz/ (ASan + UBSan + libFuzzer), replays tests/fuzz/regressions/
# <target>/ (inputs that once failed: each must pass now), then runs every
# target for SECONDS (default 60), two at a time (2 cores), from its seed
# corpus in tests/fuzz/corpus/<target>/ plus the inputs earlier runs found
# (build/fuzz/corpus/<target>/, not committed). Prints executions and
# findings per target; a finding's input is kept under build/fuzz/crashes/
# <target>/, with its log under build/fuzz/logs/. Exits 1 when a regression
# input or a fuzzing run fails.
#
# Environment: FUZZ_JOBS (parallel targets, 2), FUZZ_TARGETS (a subset, by
# name), FITD_FUZZ_SKIP_UTF8=1 (skip the check that error bodies are valid
# UTF-8, to explore past that known finding).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
SECS=${1:-60}
JOBS=${FUZZ_JOBS:-2}
OUT=build/fuzz
ALL_TARGETS="model dataset job weights instances evaluate csv float model_state train_state http_match v2_infer sweep"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

if ! [[ $SECS =~ ^[0-9]+$ ]] || [ "$SECS" -lt 1 ]; then
	echo "usage: tests/fuzz/run.sh [SECONDS]" >&2
	exit 2
fi

# ---- tools ---------------------------------------------------------------------
missing=""
for p in clang libclang-rt-14-dev make pkg-config libcjson-dev libopenblas-dev libmicrohttpd-dev libsqlite3-dev; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "fuzz: installing$missing"
	# shellcheck disable=SC2086 # one word per package
	if ! apt-get update -qq || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; then
		echo "fuzz: cannot install$missing" >&2
		exit 1
	fi
fi

# ---- build -------------------------------------------------------------------------
echo "fuzz: building the targets into $OUT/bin"
mkdir -p "$OUT/logs" "$OUT/crashes" "$OUT/corpus"
if ! make -s -f tests/fuzz/fuzz.mk -j"$JOBS" >"$OUT/logs/build.log" 2>&1; then
	cat "$OUT/logs/build.log" >&2
	echo "fuzz: build failed" >&2
	exit 1
fi

export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

dict_for() {
	case $1 in
	model | dataset | job | weights | instances | evaluate | v2_infer | sweep) echo "-dict=tests/fuzz/json.dict" ;;
	csv | float) echo "-dict=tests/fuzz/csv.dict" ;;
	http_match) echo "-dict=tests/fuzz/http.dict" ;;
	esac
}

# ---- regressions ---------------------------------------------------------------------
failed=0
declare -A regress
for t in $TARGETS; do
	dir=tests/fuzz/regressions/$t
	regress[$t]="-"
	[ -d "$dir" ] || continue
	files=$(find "$dir" -type f | sort)
	[ -n "$files" ] || continue
	n=0 bad=0
	for f in $files; do
		n=$((n + 1))
		if ! "$OUT/bin/fuzz_$t" "$f" >"$OUT/logs/regress-$t-$(basename "$f").log" 2>&1; then
			bad=$((bad + 1))
			echo "fuzz: REGRESSION $t: $f fails again; see $OUT/logs/regress-$t-$(basename "$f").log" >&2
			grep -a -m1 -A2 -E "FUZZ CHECK FAILED|ERROR: AddressSanitizer|runtime error|ERROR: LeakSanitizer" \
				"$OUT/logs/regress-$t-$(basename "$f").log" | sed 's/^/    /' >&2
		fi
	done
	regress[$t]="$((n - bad))/$n"
	[ $bad -eq 0 ] || failed=1
done

# ---- fuzzing --------------------------------------------------------------------------
run_one() {
	local t=$1 log=$OUT/logs/$1.log
	mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t"
	# shellcheck disable=SC2046
	"$OUT/bin/fuzz_$t" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$OUT/crashes/$t/" $(dict_for "$t") "$OUT/corpus/$t" "tests/fuzz/corpus/$t" \
		>"$log" 2>&1
	echo $? >"$OUT/logs/$t.rc"
}

echo "fuzz: $SECS s per target, $JOBS at a time: $TARGETS"
start=$(date +%s)
running=0
for t in $TARGETS; do
	rm -f "$OUT/logs/$t.rc"
	run_one "$t" &
	running=$((running + 1))
	if [ $running -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

printf '\n%-12s %14s %10s %8s %11s  %s\n' target executions exec/s corpus regressions findings
for t in $TARGETS; do
	log=$OUT/logs/$t.log
	rc=$(cat "$OUT/logs/$t.rc" 2>/dev/null || echo 1)
	execs=$(grep -a -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
	if [ -z "$execs" ]; then  # a crash ends the run before the final stats
		execs=$(grep -a -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
	fi
	rate=$(grep -a -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
	corpus=$(find "$OUT/corpus/$t" -type f | wc -l)
	finding="none"
	if [ "$rc" != 0 ]; then
		failed=1
		art=$(grep -a -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')
		what=$(grep -a -m1 -oE "FUZZ CHECK FAILED [^ ]+|ERROR: AddressSanitizer: [a-z-]+|runtime error: .{0,60}|ERROR: LeakSanitizer|ERROR: libFuzzer: [a-z-]+" "$log")
		finding="${what:-exit $rc} -> ${art:-$log}"
	fi
	printf '%-12s %14s %10s %8s %11s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "${regress[$t]}" "$finding"
done
echo "fuzz: done in $(($(date +%s) - start)) s"
if [ $failed -ne 0 ]; then
	echo "fuzz: FAILED — logs in $OUT/logs, inputs in $OUT/crashes (add each to tests/fuzz/regressions/<target>/)" >&2
	exit 1
fi
echo "fuzz: ok"

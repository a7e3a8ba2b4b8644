#!/usr/bin/env bash
# kernel_sets.sh UNIT — runs the unit-test runner once under each OpenBLAS
# kernel set this CPU can execute (Prescott, Haswell, Zen, SkylakeX; and
# Cooperlake where AVX-512 BF16 is there), then once with the automatic
# choice (OPENBLAS_CORETYPE unset: fitd's own, by CPU features), skipping
# the database suites, which compute nothing (FITD_UNIT_SKIP=db,db_job), in one
# process (CK_FORK=no: ten times faster; the main run forks). A tolerance
# that holds only for one machine's rounding fails here, not on the next
# machine. A set the CPU cannot execute is reported as not run, with why.
set -uo pipefail
unit=${1:?usage: kernel_sets.sh UNIT}
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }

sets=(Prescott)
if has avx2 fma; then sets+=(Haswell Zen); else echo "kernel sets: no AVX2/FMA here: Haswell and Zen not run"; fi
if has avx512f avx512bw avx512dq avx512vl; then
	sets+=(SkylakeX)
	if has avx512_bf16; then sets+=(Cooperlake); fi
else
	echo "kernel sets: no AVX-512 here: SkylakeX not run"
fi
sets+=(auto)

failed=()
for s in "${sets[@]}"; do
	start=$(date +%s)
	if [ "$s" = auto ]; then
		out=$(env -u OPENBLAS_CORETYPE CK_FORK=no FITD_UNIT_SKIP=db,db_job "$unit" 2>&1)
	else
		out=$(OPENBLAS_CORETYPE=$s CK_FORK=no FITD_UNIT_SKIP=db,db_job "$unit" 2>&1)
	fi
	rc=$?
	summary=$(grep -E '^[0-9]+%: Checks' <<<"$out" | tail -1)
	echo "kernel set $s ($(head -1 <<<"$out" | sed 's/^BLAS kernels //')): ${summary:-no summary} in $(($(date +%s) - start)) s"
	if [ $rc -ne 0 ]; then
		grep -E ':[FE]:' <<<"$out" | head -20
		failed+=("$s")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "kernel sets: unit suite failed under: ${failed[*]}"
	exit 1
fi
echo "kernel sets: unit suite passed under all ${#sets[@]}: ${sets[*]}"

#!/usr/bin/env bash
# tests/soak/run.sh [--quick] — fitd's hardening suites (make soak).
#
# Full (make soak, ~8 minutes on 2 cores):
#   load          tests/load/run.sh: wrk at predict and the list routes, 256
#                 connections, 15 s each, while jobs train; /healthz baseline
#   slow clients  slowloris (500 connections, 20 s), idle timeout, clients that
#                 vanish mid-CSV-upload
#   crash loop    50 SIGKILL cycles, then the poisonous job
#   disk          disk full (loop-mounted ext4), read-only database, RLIMIT_FSIZE
#   idempotency   10 rounds of 50 concurrent POSTs with one key
#   limits        hostile sizes refused (latency printed); RSS over 50,000 requests
# --quick (< 90 s): slowloris 5 s, 24 vanishing uploads, crash loop 5 cycles + the poisonous job,
#   idempotency 2 rounds, limits without the 100,000 requests.
#
# Builds the release binary first (make build/fitd). Every suite starts its
# own fitd on a temporary database and removes what it made. Exits 1 when any
# suite fails; the last lines are a table of the suites.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
quick=0
case "${1:-}" in
--quick) quick=1 ;;
"") ;;
*) echo "usage: tests/soak/run.sh [--quick]" >&2; exit 2 ;;
esac

if ! make -s deps >/dev/null || ! make -s build/fitd; then
	echo "soak: cannot build build/fitd" >&2
	exit 1
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BIN=build/fitd
PY=(python3 -u)
declare -a names codes times
failed=0

suite() {
	local name=$1 start rc
	shift
	echo
	echo "=== $name: $*"
	start=$SECONDS
	"$@"
	rc=$?
	names+=("$name")
	codes+=("$rc")
	times+=("$((SECONDS - start))")
	[ "$rc" -eq 0 ] || failed=1
}

trap 'echo "soak: interrupted" >&2; exit 130' INT TERM
t0=$SECONDS
if [ $quick -eq 1 ]; then
	suite "slow clients" "${PY[@]}" tests/soak/slow_clients.py --binary $BIN --quick
	suite "crash loop" "${PY[@]}" tests/soak/crash_loop.py --binary $BIN --cycles 5 --reference-jobs 10
	suite "idempotency" "${PY[@]}" tests/soak/idempotency.py --binary $BIN --rounds 2
	suite "limits" "${PY[@]}" tests/soak/limits.py --binary $BIN --requests 0
else
	# wrk runs of 15 s and 50,000 requests for memory keep .ci/run within
	# 30 minutes on 2 cores; every part still runs (tests/load/run.sh and
	# limits.py take longer runs by hand)
	suite "load" bash tests/load/run.sh --seconds 15
	suite "slow clients" "${PY[@]}" tests/soak/slow_clients.py --binary $BIN
	suite "crash loop" "${PY[@]}" tests/soak/crash_loop.py --binary $BIN --cycles 50
	suite "disk" "${PY[@]}" tests/soak/disk_full.py --binary $BIN
	suite "idempotency" "${PY[@]}" tests/soak/idempotency.py --binary $BIN --rounds 10
	suite "limits" "${PY[@]}" tests/soak/limits.py --binary $BIN --requests 50000
fi

echo
echo "=== soak$([ $quick -eq 1 ] && echo " --quick"): $((SECONDS - t0)) s"
for i in "${!names[@]}"; do
	printf '  %-14s %-5s %4s s\n' "${names[$i]}" "$([ "${codes[$i]}" -eq 0 ] && echo ok || echo FAIL)" "${times[$i]}"
done
exit $failed

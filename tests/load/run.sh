#!/usr/bin/env bash
# tests/load/run.sh [--seconds N] [--connections N] — fitd under wrk.
#
# Builds the release binary (make build/fitd), installs wrk when missing,
# then runs tests/load/load.py: fitd on a fresh database with 2 workers, a
# tutorial model and dataset, long training jobs running throughout, and wrk
# (2 threads, 30 s each) at POST /v1/models/{id}/predict and at the list
# routes with 256 connections, predict with 64 connections with and without
# ?store=false, and a bare /healthz at 256 and 64 connections as the baseline
# of the same machine in the same run. Asserts 0 non-2xx answers and 0 socket
# errors everywhere; prints req/s, p50/p99/max and the ratio to the baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null 2>&1; then
	echo "load: installing wrk"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi
make -s build/fitd
exec python3 tests/load/load.py --binary build/fitd "$@"

#!/usr/bin/env bash
# tests/load/run_predict_speed.sh [--seconds N] [--connections N] — one-row
# predict (/v1 and /v2, stored and not) against a bare libmicrohttpd handler,
# in one run (tests/load/predict_speed.py). Builds build/fitd and build/bare,
# installs wrk when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null 2>&1; then
	echo "load: installing wrk"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi
make -s build/fitd build/bare
exec python3 tests/load/predict_speed.py --binary build/fitd --bare build/bare "$@"

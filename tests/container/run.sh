#!/usr/bin/env bash
# tests/container/run.sh — builds the fitd image from the Dockerfile and runs
# it the way a user and an orchestrator would, with podman (`make
# test-container`; CI runs it as root on a fresh Debian 12).
#
#   1. installs podman, runc, debootstrap, curl and jq when missing;
#   2. makes debian:bookworm-slim locally when podman does not have it (no
#      registry is reachable): debootstrap --variant=minbase, slimmed like the
#      official image, imported with `podman import`; the rootfs tarball is
#      cached in build/container-cache/ and the imported image is kept;
#   3. builds the image (--pull=never --isolation=chroot, docker format so the
#      HEALTHCHECK is kept; the layer cache is kept between runs) and checks
#      its configuration;
#   4. runs it (runc, --network=host on a free port, a named volume on /data,
#      an API key, --log-format json), waits for the health check, checks the
#      process is not root, runs the tutorial workflow through curl (dataset,
#      model, job, predict) and `fitd backup`;
#   5. starts a longer job, `podman stop -t 30` during it (SIGTERM): exit code
#      0, quickly; then a new container on the same volume, with a read-only
#      root and no capabilities: the job resumes from its last epoch and ends
#      with the same weights as an uninterrupted run of the same job, and all
#      the data is still there;
#   6. removes the containers, the volume and the image tag it made. It keeps
#      the base image, build/container-cache/ and the layer cache, tagged
#      localhost/fitd-test-cache:build and :image (each run replaces the
#      previous run's; `podman rmi localhost/fitd-test-cache:build
#      localhost/fitd-test-cache:image` drops them).
#
# Environment: FITD_TEST_PORT (default: a free port), DEBIAN_MIRROR (default
# http://deb.debian.org/debian), KEEP=1 keeps the container, volume and image
# for a look afterwards.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=$ROOT/build/container-cache
BASE_IMAGE=docker.io/library/debian:bookworm-slim
BASE_TAR=$CACHE/debian-bookworm-slim.tar
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUN_ID=$$
IMAGE=localhost/fitd-test:$RUN_ID
CACHE_IMAGE=localhost/fitd-test-cache
NAME=fitd-test-$RUN_ID
VOLUME=fitd-test-data-$RUN_ID
KEY=container-test-key-$RUN_ID
WORK=$(mktemp -d /tmp/fitd-container.XXXXXX)
T0=$(date +%s)
PASSED=0
CURRENT=""   # the container the diagnostics show on failure

export DEBIAN_FRONTEND=noninteractive
# podman here needs runc and no default ulimits (with crun, or with the
# default ulimits, `podman run` fails on these machines).
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
# podman schedules health checks with systemd timers, and there is no systemd
# here: this test runs the image's HEALTHCHECK itself (`podman healthcheck run`).
export DISABLE_HC_SYSTEMD=true
pm() { podman --runtime runc "$@"; }

say() { printf '[%4ds] %s\n' $(($(date +%s) - T0)) "$*"; }
ok() {
	PASSED=$((PASSED + 1))
	say "ok: $*"
}
fail() {
	printf '\nFAIL: %s\n' "$*" >&2
	exit 1
}

on_exit() {
	local rc=$?
	trap - ERR
	set +e
	if [ $rc -ne 0 ]; then
		echo "=== diagnostics" >&2
		if [ -n "$CURRENT" ] && pm container exists "$CURRENT" 2>/dev/null; then
			echo "--- podman ps -a" >&2
			pm ps -a --filter "name=fitd-test-$RUN_ID" >&2
			echo "--- state of $CURRENT" >&2
			pm inspect "$CURRENT" --format 'status={{.State.Status}} exit={{.State.ExitCode}} oom={{.State.OOMKilled}} error={{.State.Error}} health={{.State.Health.Status}}' >&2
			echo "--- last 60 log lines of $CURRENT" >&2
			pm logs --tail 60 "$CURRENT" >&2
		fi
		[ -s "$WORK/body" ] && { echo "--- last response body" >&2; head -c 3000 "$WORK/body" >&2; echo >&2; }
		echo "container: $PASSED passed, 1 failed"
	fi
	if [ "${KEEP:-}" = 1 ]; then
		echo "KEEP=1: kept containers $NAME-*, volume $VOLUME, image $IMAGE, folder $WORK" >&2
	else
		for c in "$NAME-a" "$NAME-b"; do
			pm rm --ignore -f -t 0 "$c" >/dev/null 2>&1
		done
		pm volume rm -f "$VOLUME" >/dev/null 2>&1
		pm untag "$IMAGE" "$IMAGE" >/dev/null 2>&1
		rm -rf "$WORK"
	fi
	exit $rc
}
trap on_exit EXIT
trap 'fail "line $LINENO: \"$BASH_COMMAND\" exited with $?"' ERR

# ---- 1. tools -------------------------------------------------------------
missing=()
for tool in podman:podman runc:runc debootstrap:debootstrap curl:curl jq:jq; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	for try in 1 2 3; do
		apt-get -o DPkg::Lock::Timeout=600 update -qq && break
		[ $try = 3 ] && fail "apt-get update"
		sleep 10
	done
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 ||
		{ tail -30 "$WORK/apt.log" >&2; fail "apt-get install ${missing[*]}"; }
fi
say "$(podman --version), $(runc --version | head -1)"

# ---- 2. the base image --------------------------------------------------------
# Like the official debian:bookworm-slim: no docs, man pages or locales (also
# for packages installed later, through dpkg path excludes), apt that keeps no
# .deb files or indexes, bookworm + updates + security sources.
slimify() {
	local r=$1
	mkdir -p "$r/etc/dpkg/dpkg.cfg.d" "$r/etc/apt/apt.conf.d" "$r/etc/apt/sources.list.d"
	cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
EOF
	cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
	echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
	echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
	echo 'APT::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
	rm -f "$r/etc/apt/sources.list"
	cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
	find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
	rm -rf "$r"/usr/share/{info,man,groff,linda,locale}/* "$r"/usr/share/lintian/overrides/*
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb
	rm -rf "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/tmp/* "$r"/root/.bash_history
}

make_base_image() {
	local rootfs=$CACHE/rootfs
	if [ ! -s "$BASE_TAR" ]; then
		say "making the base image: debootstrap --variant=minbase bookworm (about a minute)"
		# An interrupted debootstrap may have left /proc or /sys mounted in it.
		grep -o " $rootfs/[^ ]*" /proc/mounts | sort -r | xargs -r umount -l || true
		rm -rf --one-file-system "$rootfs"
		debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
			{ tail -30 "$CACHE/debootstrap.log" >&2; fail "debootstrap (log: $CACHE/debootstrap.log)"; }
		slimify "$rootfs"
		tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.tmp" .
		mv "$BASE_TAR.tmp" "$BASE_TAR"
		rm -rf --one-file-system "$rootfs"
		say "cached $BASE_TAR ($(du -m "$BASE_TAR" | cut -f1) MiB)"
	fi
	say "importing $BASE_TAR as $BASE_IMAGE"
	pm import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' "$BASE_TAR" "$BASE_IMAGE" >"$WORK/import.log" 2>&1 ||
		{ cat "$WORK/import.log" >&2; fail "podman import"; }
}

mkdir -p "$CACHE"
if pm image exists "$BASE_IMAGE"; then
	say "base image $BASE_IMAGE: present"
else
	# One run at a time makes it; the others wait and then find it.
	exec 9>"$CACHE/.lock"
	flock 9
	pm image exists "$BASE_IMAGE" || make_base_image
	flock -u 9
fi

# ---- 3. build -------------------------------------------------------------------
say "podman build"
b0=$(date +%s)
if ! pm build --pull=never --isolation=chroot --format docker --layers -t "$IMAGE" -f Dockerfile . \
	>"$WORK/build.log" 2>&1; then
	cp "$WORK/build.log" "$CACHE/last-build.log"
	tail -60 "$WORK/build.log" >&2
	fail "podman build (whole log: build/container-cache/last-build.log)"
fi
# One line per step, marked when it came from the layer cache.
awk '/^(\[[0-9]+\/[0-9]+\] )?STEP / { if (step != "") print step; step = substr($0, 1, 96); next }
	/^--> Using cache/ { step = step "  [cached]" } END { if (step != "") print step }' "$WORK/build.log" | sed 's/^/    /'
ok "image built in $(($(date +%s) - b0)) s"

# Keep the layer cache under two tags (the build stage and the image), so the
# next run reuses it, and drop the previous run's cache images (their shared
# layers stay, in use by the new ones).
keep_cache() {
	local tag=$CACHE_IMAGE:$1 id=$2 old
	old=$(pm image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
	pm tag "$id" "$tag"
	if [ -n "$old" ] && [ "$(pm image inspect --format '{{.Id}}' "$tag")" != "$old" ]; then
		pm rmi "$old" >/dev/null 2>&1 || true
	fi
}
build_stage=$(awk '/^\[[0-9]+\/[0-9]+\] STEP 1\// { split(substr($1, 2), n, "/"); if (n[1] + 0 == n[2] + 0 && n[1] > 1) { print last; exit } }
	/^--> [0-9a-f]+$/ { last = $2 }' "$WORK/build.log")
[ -n "$build_stage" ] && keep_cache build "$build_stage"
keep_cache image "$IMAGE"

pm image inspect "$IMAGE" | jq '.[0]' >"$WORK/image.json"
check_image() {
	jq -e "$1" "$WORK/image.json" >/dev/null ||
		{ jq '{Config, Healthcheck}' "$WORK/image.json" >&2; fail "image config: $2"; }
}
check_image '.Config.User != "" and (.Config.User | test("^(0|root)(:|$)") | not)' "a non-root USER"
check_image '.Config.Entrypoint == ["/opt/fitd/bin/fitd"]' "exec-form ENTRYPOINT /opt/fitd/bin/fitd"
check_image '.Healthcheck.Test == ["CMD", "/opt/fitd/bin/fitd", "healthcheck"]' "HEALTHCHECK fitd healthcheck"
check_image '.Config.StopSignal == "SIGTERM"' "STOPSIGNAL SIGTERM"
check_image '.Config.ExposedPorts | has("8080/tcp")' "EXPOSE 8080"
check_image '.Config.Volumes | has("/data")' "VOLUME /data"
check_image '.Config.Env | index("FITD_DB=/data/fitd.db") != null' "FITD_DB=/data/fitd.db"
check_image '.Config.Env | index("FITD_BIND=0.0.0.0") != null' "FITD_BIND=0.0.0.0"
SIZE=$(jq -r '.Size' "$WORK/image.json")
ok "image config: user $(jq -r .Config.User "$WORK/image.json"), healthcheck, SIGTERM, 8080, /data; size $((SIZE / 1000000)) MB"

# ---- helpers ----------------------------------------------------------------------
# Below the kernel's ephemeral range: a port in it may be held by a client
# connection (or its TIME_WAIT) that nothing listens on, and bind then fails.
free_port() {
	local p low=32768
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	[ "$low" -gt 20100 ] || low=32768
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % (low - 20000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}
PORT=${FITD_TEST_PORT:-$(free_port)}
URL=http://127.0.0.1:$PORT

# req METHOD PATH EXPECTED_STATUS [curl args...]: the body lands in $WORK/body.
req() {
	local method=$1 path=$2 want=$3 code
	shift 3
	code=$(curl -sS --max-time 60 -o "$WORK/body" -w '%{http_code}' -X "$method" \
		-H "Authorization: Bearer $KEY" "$@" "$URL$path") || fail "curl $method $path: no answer"
	[ "$code" = "$want" ] || fail "$method $path answered $code, expected $want: $(head -c 1500 "$WORK/body")"
}
post_json() { req POST "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"; }
field() { jq -r "$1" "$WORK/body"; }

# A commit interval of 200 ms (1000 by default) lets the test see a job's
# progress soon enough to stop the container in the middle of the long job.
# start_container NAME [podman run options...]
start_container() {
	CURRENT=$1
	shift
	pm run -d --name "$CURRENT" --network=host "$@" \
		-e FITD_PORT="$PORT" -e FITD_API_KEY="$KEY" -e FITD_WORKERS=2 -e FITD_COMMIT_INTERVAL_MS=200 \
		-v "$VOLUME:/data" "$IMAGE" --log-format json >/dev/null ||
		fail "podman run $CURRENT"
}

# Healthy = podman's own run of the image's HEALTHCHECK passes, and /healthz
# answers the host.
wait_healthy() {
	local deadline=$(($(date +%s) + 60))
	while :; do
		[ "$(pm inspect "$1" --format '{{.State.Running}}')" = true ] || fail "container $1 is not running"
		if pm healthcheck run "$1" >/dev/null 2>&1 &&
			curl -fsS --max-time 5 "$URL/healthz" >"$WORK/body" 2>/dev/null; then
			break
		fi
		[ "$(date +%s)" -lt "$deadline" ] || fail "container $1 not healthy after 60 s"
		sleep 0.5
	done
	jq -e '.status == "ok"' "$WORK/body" >/dev/null || fail "/healthz body: $(cat "$WORK/body")"
}

# wait_job ID STATUS SECONDS
wait_job() {
	local deadline=$(($(date +%s) + $3)) st
	while :; do
		req GET "/v1/jobs/$1" 200
		st=$(field .status)
		[ "$st" = "$2" ] && return
		case $st in failed | cancelled | succeeded) fail "job $1 is $st, expected $2: $(cat "$WORK/body")" ;; esac
		[ "$(date +%s)" -lt "$deadline" ] || fail "job $1 still $st after $3 s: $(cat "$WORK/body")"
		sleep 0.3
	done
}

# A JSON dataset: ROWS x FEATURES uniform in [-1, 1]; 2 classes = XOR of the
# signs of the first two features, else the class whose features sum highest.
dataset() {
	awk -v rows="$1" -v features="$2" -v classes="$3" -v seed="$4" -v name="$5" 'BEGIN {
		srand(seed)
		printf "{\"name\": \"%s\", \"x\": [", name
		for (i = 0; i < rows; i++) {
			printf "%s[", i ? "," : ""
			for (f = 0; f < features; f++) { x[f] = rand() * 2 - 1; printf "%s%.4f", f ? "," : "", x[f] }
			printf "]"
			if (classes == 2) y[i] = x[0] * x[1] > 0
			else {
				best = 0; bv = -1e9
				for (c = 0; c < classes; c++) {
					s = 0; for (f = c; f < features; f += classes) s += x[f]
					if (s > bv) { bv = s; best = c }
				}
				y[i] = best
			}
		}
		printf "], \"y\": ["
		for (i = 0; i < rows; i++) printf "%s%d", i ? "," : "", y[i]
		printf "]}\n"
	}'
}

# ---- 4. first container -------------------------------------------------------------
say "starting $NAME-a on port $PORT with volume $VOLUME"
start_container "$NAME-a"
wait_healthy "$NAME-a"
if pm exec -e FITD_PORT=1 "$NAME-a" /opt/fitd/bin/fitd healthcheck >/dev/null 2>&1; then
	fail "fitd healthcheck passes with nothing listening on its port"
fi
ok "healthy: podman healthcheck run and GET /healthz from the host (and the check fails on a dead port)"

uid=$(pm exec "$NAME-a" id -u)
pid=$(pm inspect "$NAME-a" --format '{{.State.Pid}}')
host_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" != 0 ] && [ "$host_uid" != 0 ] || fail "fitd runs as root (id -u $uid, /proc/$pid uid $host_uid)"
[ "$(pm exec "$NAME-a" stat -c %u /data/fitd.db)" = "$uid" ] || fail "/data/fitd.db is not owned by uid $uid"
ok "runs as uid $uid (host /proc/$pid: uid $host_uid), owns /data/fitd.db"

code=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/v1/datasets")
[ "$code" = 401 ] || fail "GET /v1/datasets without the API key answered $code, expected 401"
req GET /readyz 200
req GET /v1/info 200
req GET /vendor/chart.js/chart.min.js 200
code=$(curl -sS --max-time 60 -o "$WORK/openapi.json" -w '%{http_code}' "$URL/openapi.json")
[ "$code" = 200 ] || fail "GET /openapi.json without the API key answered $code, expected 200 (public)"
grep -q '"openapi": "3.1' "$WORK/openapi.json" || fail "GET /openapi.json is not the OpenAPI document"
if [ -f web/index.html ]; then
	req GET / 200
	grep -qi '<html' "$WORK/body" || fail "GET / is not the dashboard page"
fi
ok "API key enforced (401 without it), /readyz, /v1/info, public /openapi.json, Chart.js at /vendor/$([ -f web/index.html ] && echo ', dashboard at /')"

say "tutorial workflow: dataset -> model -> job -> predict"
dataset 400 2 2 1 xor >"$WORK/xor.json"
req POST /v1/datasets 201 -H 'Content-Type: application/json' --data-binary @"$WORK/xor.json"
DS1=$(field .id)
[ "$(field .n_samples)" = 400 ] || fail "dataset: n_samples $(field .n_samples)"
post_json /v1/models 201 '{"name": "xor-mlp", "input_dim": 2,
	"layers": [{"type": "dense", "units": 16, "activation": "tanh"},
	           {"type": "dense", "units": 2, "activation": "softmax"}],
	"loss": "sparse_categorical_crossentropy",
	"optimizer": {"type": "adam", "learning_rate": 0.02}, "metrics": ["accuracy"], "seed": 42}'
M1=$(field .id)
post_json /v1/jobs 202 "{\"model_id\": $M1, \"dataset_id\": $DS1, \"epochs\": 60, \"batch_size\": 16, \"seed\": 7}"
J1=$(field .id)
wait_job "$J1" succeeded 120
ACC=$(field .metrics.accuracy)
jq -e '.metrics.accuracy > 0.9' "$WORK/body" >/dev/null || fail "tutorial job accuracy $ACC, expected > 0.9"
post_json "/v1/models/$M1/predict" 200 '{"instances": [[0.8, 0.7], [-0.6, 0.9], [-0.7, -0.5], [0.9, -0.8]]}'
jq -e '.classes == [1, 0, 1, 0]' "$WORK/body" >/dev/null || fail "predicted classes $(jq -c .classes "$WORK/body"), expected [1,0,1,0]"
P1=$(field .id)
req GET "/v1/predictions/$P1" 200
cp "$WORK/body" "$WORK/prediction.before"
req GET "/v1/models/$M1/weights" 200
cp "$WORK/body" "$WORK/weights.before"
ok "tutorial: dataset $DS1, model $M1, job $J1 succeeded (accuracy $ACC), prediction $P1 classes [1,0,1,0]"

pm exec "$NAME-a" /opt/fitd/bin/fitd backup /data/backup.db >/dev/null || fail "fitd backup"
[ "$(pm exec "$NAME-a" head -c 15 /data/backup.db)" = "SQLite format 3" ] || fail "/data/backup.db is not a SQLite file"
ok "fitd backup /data/backup.db while serving"

# ---- 5. SIGTERM during a job, then a restart on the same volume ------------------------
EPOCHS=100
dataset 4000 32 4 2 blobs >"$WORK/blobs.json"
req POST /v1/datasets 201 -H 'Content-Type: application/json' --data-binary @"$WORK/blobs.json"
DS2=$(field .id)
MODEL2='"input_dim": 32,
	"layers": [{"type": "dense", "units": 256, "activation": "relu"},
	           {"type": "dense", "units": 256, "activation": "relu"},
	           {"type": "dense", "units": 4, "activation": "softmax"}],
	"loss": "sparse_categorical_crossentropy", "optimizer": "adam", "metrics": ["accuracy"], "seed": 5'
JOB2="\"dataset_id\": $DS2, \"epochs\": $EPOCHS, \"batch_size\": 16, \"seed\": 11"
post_json /v1/models 201 "{\"name\": \"long\", $MODEL2}"
M2=$(field .id)
post_json /v1/jobs 202 "{\"model_id\": $M2, $JOB2}"
J2=$(field .id)
deadline=$(($(date +%s) + 120))
while :; do
	req GET "/v1/jobs/$J2" 200
	[ "$(field .status)" = running ] && [ "$(field .epoch)" -ge 5 ] && break
	[ "$(field .status)" = queued ] || [ "$(field .status)" = running ] ||
		fail "long job $J2 is $(field .status) before the stop (make it longer?)"
	[ "$(date +%s)" -lt "$deadline" ] || fail "long job $J2 did not reach epoch 5 in 120 s"
	sleep 0.2
done
EPOCH_BEFORE=$(field .epoch)
say "long job $J2 running at epoch $EPOCH_BEFORE/$EPOCHS: podman stop -t 30 (SIGTERM)"
s0=$(date +%s%N)
pm stop -t 30 "$NAME-a" >/dev/null || fail "podman stop"
stop_ms=$((($(date +%s%N) - s0) / 1000000))
exit_code=$(pm inspect "$NAME-a" --format '{{.State.ExitCode}}')
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM, expected 0"
[ "$stop_ms" -lt 20000 ] || fail "stopping took $stop_ms ms"
pm logs "$NAME-a" >"$WORK/logs-a" 2>&1
grep -q 'received SIGTERM' "$WORK/logs-a" || fail "no 'received SIGTERM' in the log"
ok "SIGTERM during job $J2: exit code 0 in $stop_ms ms"

# Every log line is JSON (--log-format json): requests and job state changes.
bad=$(while IFS= read -r line; do jq -e . >/dev/null 2>&1 <<<"$line" || echo "$line"; done <"$WORK/logs-a")
[ -z "$bad" ] || fail "log lines that are not JSON: $(head -5 <<<"$bad")"
jq -se 'map(select(.type == "request" and .method == "POST" and .path == "/v1/jobs")) | length >= 2' "$WORK/logs-a" >/dev/null ||
	fail "no JSON request lines for POST /v1/jobs in the log"
jq -se "map(select(.type == \"job\" and .job_id == $J1) | .status) | index(\"running\") != null and index(\"succeeded\") != null" \
	"$WORK/logs-a" >/dev/null || fail "no JSON job lines running/succeeded for job $J1 in the log"
jq -se "map(select(.type == \"job\" and .job_id == $J2) | .status) | last == \"queued\"" "$WORK/logs-a" >/dev/null ||
	fail "job $J2 was not put back in the queue at the shutdown (its last log line: $(grep "\"job_id\":$J2," "$WORK/logs-a" | tail -1))"
ok "log: $(wc -l <"$WORK/logs-a") lines, all JSON, one per request and per job state change"

say "starting $NAME-b on the same volume, locked down: read-only root, no capabilities"
pm rm "$NAME-a" >/dev/null
start_container "$NAME-b" --read-only --tmpfs /tmp --cap-drop=ALL --security-opt=no-new-privileges
wait_healthy "$NAME-b"
req GET "/v1/jobs/$J2" 200
resumed_at=$(field .epoch)
case $(field .status) in queued | running | succeeded) ;; *) fail "job $J2 is $(field .status) after the restart" ;; esac
[ "$resumed_at" -ge "$EPOCH_BEFORE" ] ||
	fail "job $J2 restarted from epoch $resumed_at, but it had reached $EPOCH_BEFORE before the stop"
pm logs "$NAME-b" 2>&1 | jq -se "map(select(.type == \"job\" and .job_id == $J2 and .status == \"running\")) | length == 1" >/dev/null ||
	fail "job $J2 was not picked up again by the new container"
# The same job on a fresh model of the same spec, uninterrupted, alongside.
post_json /v1/models 201 "{\"name\": \"reference\", $MODEL2}"
M3=$(field .id)
post_json /v1/jobs 202 "{\"model_id\": $M3, $JOB2}"
J3=$(field .id)
wait_job "$J2" succeeded 240
SHA2=$(field .weights_sha256)
wait_job "$J3" succeeded 240
SHA3=$(field .weights_sha256)
[ -n "$SHA2" ] && [ "$SHA2" = "$SHA3" ] ||
	fail "resumed job $J2 weights_sha256 $SHA2 differ from the uninterrupted job $J3's $SHA3"
req GET "/v1/jobs/$J2/history" 200
jq -e "[.epochs[].epoch] == [range(1; $EPOCHS + 1)]" "$WORK/body" >/dev/null ||
	fail "job $J2 history epochs are not exactly 1..$EPOCHS"
ok "job $J2 resumed at epoch $resumed_at and finished; weights identical to an uninterrupted run (job $J3); history 1..$EPOCHS"

req GET /v1/datasets 200
jq -e '.total == 2' "$WORK/body" >/dev/null || fail "datasets after the restart: $(cat "$WORK/body")"
req GET "/v1/jobs/$J1" 200
[ "$(field .status)" = succeeded ] || fail "job $J1 after the restart: $(field .status)"
req GET "/v1/predictions/$P1" 200
cmp -s "$WORK/body" "$WORK/prediction.before" || fail "prediction $P1 changed across the restart"
req GET "/v1/models/$M1/weights" 200
cmp -s "$WORK/body" "$WORK/weights.before" || fail "model $M1's weights changed across the restart"
post_json "/v1/models/$M1/predict?store=false" 200 '{"instances": [[0.8, 0.7]]}'
jq -e '.classes == [1]' "$WORK/body" >/dev/null || fail "model $M1 predicts differently after the restart"
[ "$(pm exec "$NAME-b" head -c 15 /data/backup.db)" = "SQLite format 3" ] || fail "/data/backup.db lost"
ok "after the restart: datasets, models, jobs, prediction $P1, weights and the backup are all there"

pm stop -t 30 "$NAME-b" >/dev/null
exit_code=$(pm inspect "$NAME-b" --format '{{.State.ExitCode}}')
[ "$exit_code" = 0 ] || fail "second container: exit code $exit_code after SIGTERM"
ok "second container stopped idle: exit code 0"

echo "image: $IMAGE, $((SIZE / 1000000)) MB ($SIZE bytes); total $(($(date +%s) - T0)) s"
echo "container: $PASSED passed, 0 failed"

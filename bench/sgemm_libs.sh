#!/usr/bin/env bash
# sgemm_libs.sh — sgemm GFLOP/s at fitd's shapes, one thread, for OpenBLAS
# (its own pick, and each kernel set this CPU runs), BLIS and oneDNN, side by
# side in one run, with the machine's measured FMA peak (build/bench). BLIS
# and oneDNN are only measured: fitd does not link them. Needs Debian's
# libblis-dev and libdnnl-dev (apt-get install them first; rows for a missing
# library say so).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1
flags="-O2 -std=c11 -D_GNU_SOURCE"
cc $flags -DLIB_OPENBLAS $(pkg-config --cflags openblas) bench/sgemm_libs.c -o "$out/openblas" $(pkg-config --libs openblas)
grep -m1 'model name' /proc/cpuinfo | sed 's/^model name\s*:/CPU:/'
[ -x build/bench ] && build/bench a -t 2>/dev/null | grep '^FMA peak' || true
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo)
sets=("")
for s in Prescott Haswell Zen SkylakeX Cooperlake; do
	case $s in
	Haswell|Zen) [[ " $cpu_flags " == *" avx2 "* ]] || continue ;;
	SkylakeX|Cooperlake) [[ " $cpu_flags " == *" avx512f "* ]] || continue ;;
	esac
	sets+=("$s")
done
for s in "${sets[@]}"; do
	if [ -z "$s" ]; then
		env -u OPENBLAS_CORETYPE "$out/openblas" | sed 's/^/OpenBLAS auto: /'
	else
		OPENBLAS_CORETYPE=$s "$out/openblas" | sed 's/^/OpenBLAS forced: /'
	fi
done
if [ -e /usr/lib/x86_64-linux-gnu/libblis.so ]; then
	cc $flags -DLIB_BLIS -I/usr/include/x86_64-linux-gnu/openblas-pthread bench/sgemm_libs.c -o "$out/blis" \
		-L/usr/lib/x86_64-linux-gnu -l:libblis.so
	"$out/blis"
else
	echo "BLIS: not installed (apt-get install libblis-dev)"
fi
if [ -e /usr/include/dnnl.h ]; then
	cc $flags -DLIB_DNNL bench/sgemm_libs.c -o "$out/dnnl" -ldnnl
	"$out/dnnl"
else
	echo "oneDNN: not installed (apt-get install libdnnl-dev)"
fi

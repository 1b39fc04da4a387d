#!/usr/bin/env bash
# One-shot GPU verification of Boft's ILGPU kernels: on a machine with a CUDA GPU it runs, in under 8 minutes, every NUnit
# fixture of category Cuda (the ILGPU kernel fixtures, all golden cases through the kernels, the shared backend fixtures and
# the layer goldens, each on the "Cuda" backend), validated kernel timings, and the BOFT-vs-OFT benchmarks, and writes
# everything to ONE folder (at most 8 files, so the device tool can bring it all back).
#
#   scripts/gpu-check.sh --bundle
#       On a build machine with the .NET SDK: builds the GPU check runner (scripts/GpuCheck: runs the NUnit fixtures in-process,
#       so no SDK is needed later) and the benchmarks in Release, and packs them with this machine's .NET runtime into
#       .gpucheck/gpucheck.tar.xz (git-ignored, ~35 MB) for GPU machines without .NET (this workplace's H200 image has none).
#   scripts/gpu-check.sh [OUT]            (default OUT=results/gpu-check)
#       On the CUDA machine. Uses the .NET SDK when present (builds there), else the bundle. Steps and time limits:
#         environment 10 s · Cuda fixtures 270 s · kernel timings 100 s · benchmarks 80 s  (total ≤ 7.8 min)
#       Output files: summary.md, environment.txt, cuda-tests.log, cuda-tests.xml, kernel-timings.md, kernel-timings.csv,
#       benchmarks.log. Exit code 0 only if the Cuda fixtures ran (not skipped) and none failed.
#   scripts/gpu-check.sh --dry-run [OUT]  Here, without a GPU: same plumbing from the bundle, timings on the CPU simulator.
#
# With this workplace's device tool (after --bundle, .gpucheck in .git/info/exclude):
#   run(command="scripts/gpu-check.sh $OUT/gpu", carry=[".gpucheck"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ "${1:-}" == "--bundle" ]]; then
  set -e
  START=$(date +%s)
  rm -rf .gpucheck && mkdir -p .gpucheck/stage/runner .gpucheck/stage/benchmarks
  dotnet build -c Release scripts/GpuCheck/GpuCheck.csproj -o .gpucheck/stage/runner --nologo -v q
  if dotnet build -c Release Boft.Benchmarks/Boft.Benchmarks.csproj -o .gpucheck/stage/benchmarks --nologo -v q; then :; else
    echo "benchmarks did not build; the bundle has none"; rm -rf .gpucheck/stage/benchmarks; fi
  DOTNET_HOME=$(dirname "$(readlink -f "$(command -v dotnet)")")
  RUNTIME=$(ls -d "$DOTNET_HOME"/shared/Microsoft.NETCore.App/10.* | sort -V | tail -1)
  mkdir -p .gpucheck/stage/dotnet/shared/Microsoft.NETCore.App
  cp -a "$DOTNET_HOME/dotnet" "$DOTNET_HOME/host" .gpucheck/stage/dotnet/
  cp -a "$RUNTIME" .gpucheck/stage/dotnet/shared/Microsoft.NETCore.App/
  find .gpucheck/stage -name "*.pdb" -delete
  git rev-parse HEAD > .gpucheck/stage/commit.txt 2>/dev/null || true
  tar -C .gpucheck/stage -cf - . | xz -T2 -6 > .gpucheck/gpucheck.tar.xz
  rm -rf .gpucheck/stage
  grep -qx '/.gpucheck/' .git/info/exclude 2>/dev/null || { [[ -f .git ]] || echo '/.gpucheck/' >> .git/info/exclude; }
  echo "bundle: $(du -h .gpucheck/gpucheck.tar.xz | cut -f1) in .gpucheck/ ($(( $(date +%s) - START )) s); .gpucheck/ is git-ignored (.gitignore)"
  exit 0
fi

DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi
OUT="${1:-results/gpu-check}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
START=$(date +%s)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
log() { echo "[$(( $(date +%s) - START ))s] $*"; }

# ILGPU loads the driver as "libcuda.so" and cuBLAS as libcublas.so.10/11/12; CUDA-13 images have libcuda.so.1 and
# libcublas.so.13 only. Best effort: a shim folder of symlinks on LD_LIBRARY_PATH (cuBLAS 13 keeps the *_v2 entry points
# ILGPU calls; if it still fails, BoftKernels falls back to its tiled GEMM and says so in GemmImplementation).
SHIM=$(mktemp -d)
for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [[ -e "$dir/libcuda.so.1" && ! -e "$SHIM/libcuda.so" ]] && ln -s "$dir/libcuda.so.1" "$SHIM/libcuda.so"
done
CUBLAS=$( (ls /usr/local/cuda/lib64/libcublas.so.1[0-9]* /usr/local/cuda/targets/x86_64-linux/lib/libcublas.so.1[0-9]* 2>/dev/null; \
           python3 -c 'import nvidia, os; print("\n".join(os.path.join(r, f) for p in nvidia.__path__ for r, _, fs in os.walk(p) for f in fs if f.startswith("libcublas.so.")))' 2>/dev/null) | grep -v Lt | head -1)
if [[ -n "$CUBLAS" ]]; then
  for v in 12 11; do [[ -e "$SHIM/libcublas.so.$v" ]] || ln -s "$CUBLAS" "$SHIM/libcublas.so.$v"; done
  ln -s "$(dirname "$CUBLAS")"/libcublasLt.so.* "$SHIM/" 2>/dev/null || true
  export LD_LIBRARY_PATH="$(dirname "$CUBLAS"):${LD_LIBRARY_PATH:-}"
fi
export LD_LIBRARY_PATH="$SHIM:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"

{
  echo "date: $(date -u +%FT%TZ)"; echo "commit: $(git rev-parse HEAD 2>/dev/null || cat .gpucheck/commit.txt 2>/dev/null)"
  echo "host: $(uname -a)"; nvidia-smi 2>&1 | head -20; echo "cuBLAS candidate: ${CUBLAS:-none}"; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
} > "$OUT/environment.txt"

if [[ $DRY -eq 0 ]] && command -v dotnet >/dev/null && dotnet --list-sdks 2>/dev/null | grep -q .; then
  MODE=sdk
  log "building with the .NET SDK"
  timeout 150 dotnet build -c Release scripts/GpuCheck/GpuCheck.csproj -o /tmp/boft-gpucheck/runner --nologo -v q >> "$OUT/environment.txt" 2>&1
  RUN=(dotnet /tmp/boft-gpucheck/runner/GpuCheck.dll)
  BENCH=(timeout 80 dotnet run -c Release --project Boft.Benchmarks --)
elif [[ -f .gpucheck/gpucheck.tar.xz ]]; then
  MODE=bundle
  log "unpacking .gpucheck/gpucheck.tar.xz"
  rm -rf /tmp/boft-gpucheck && mkdir -p /tmp/boft-gpucheck && tar -C /tmp/boft-gpucheck -xJf .gpucheck/gpucheck.tar.xz
  export DOTNET_ROOT=/tmp/boft-gpucheck/dotnet
  RUN=(/tmp/boft-gpucheck/dotnet/dotnet /tmp/boft-gpucheck/runner/GpuCheck.dll)
  BENCH=(timeout 80 /tmp/boft-gpucheck/dotnet/dotnet /tmp/boft-gpucheck/benchmarks/Boft.Benchmarks.dll)
  [[ -f /tmp/boft-gpucheck/benchmarks/Boft.Benchmarks.dll ]] || BENCH=()
else
  echo "neither a .NET SDK nor .gpucheck/gpucheck.tar.xz (run scripts/gpu-check.sh --bundle on a build machine)" | tee -a "$OUT/environment.txt"
  exit 2
fi
echo "mode: $MODE" >> "$OUT/environment.txt"

log "Cuda fixtures"
(cd /tmp/boft-gpucheck/runner && timeout 270 "${RUN[@]}" tests --category Cuda --out "$OUT") > "$OUT/cuda-tests.log" 2>&1
TESTS=$?
[[ -f "$OUT/tests.xml" ]] && mv "$OUT/tests.xml" "$OUT/cuda-tests.xml"
COUNTS=$(grep -E '^PASSED=' "$OUT/cuda-tests.log" | tail -1)
log "Cuda fixtures: exit $TESTS, $COUNTS"

log "kernel timings"
DEVICE=cuda; QUICK=(); [[ $DRY -eq 1 ]] && { DEVICE=cpu; QUICK=(--quick); }
(cd /tmp/boft-gpucheck/runner && timeout 100 "${RUN[@]}" timing --device $DEVICE "${QUICK[@]}" --out "$OUT") > "$OUT/timing.log" 2>&1
TIMING=$?
log "kernel timings: exit $TIMING"

if [[ ${#BENCH[@]} -gt 0 ]]; then
  log "benchmarks (compare --backend cuda)"
  BACKEND=cuda; [[ $DRY -eq 1 ]] && BACKEND=simd
  "${BENCH[@]}" compare --backend $BACKEND > "$OUT/benchmarks.log" 2>&1
  BENCHMARKS=$?
else
  echo "no benchmarks in the bundle" > "$OUT/benchmarks.log"; BENCHMARKS=-1
fi
log "benchmarks: exit $BENCHMARKS"

PASSED=$(sed -nE 's/^PASSED=([0-9]+).*/\1/p' <<<"$COUNTS"); FAILED=$(sed -nE 's/.*FAILED=([0-9]+).*/\1/p' <<<"$COUNTS")
{
  echo "# Boft GPU check ($MODE mode, $(( $(date +%s) - START )) s)"
  echo; echo '```'; head -3 "$OUT/environment.txt"; grep -m1 -E "NVIDIA|No devices" "$OUT/environment.txt"; echo '```'
  echo; echo "## Cuda fixtures (exit $TESTS)"; echo; cat "$OUT/tests-summary.txt" 2>/dev/null
  echo; echo "## Kernel timings (exit $TIMING)"; echo; cat "$OUT/kernel-timings.md" 2>/dev/null; grep -E "FAILED" "$OUT/timing.log"
  echo; echo "## Benchmarks (exit $BENCHMARKS)"; echo; echo '```'; tail -40 "$OUT/benchmarks.log"; echo '```'
} > "$OUT/summary.md"
cat "$OUT/timing.log" >> "$OUT/cuda-tests.log"; rm -f "$OUT/timing.log" "$OUT/tests-summary.txt"
rm -rf "$SHIM"
log "done: $OUT ($(ls "$OUT" | wc -l) files)"
if [[ $DRY -eq 1 ]]; then exit 0; fi
[[ $TESTS -eq 0 && "${PASSED:-0}" -gt 0 && "${FAILED:-1}" -eq 0 ]]

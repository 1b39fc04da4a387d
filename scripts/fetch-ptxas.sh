#!/usr/bin/env bash
# Prints the path of NVIDIA's ptxas, downloading it first when needed: Debian's non-free nvidia-cuda-toolkit (11.8, ~84 MB)
# is fetched with `apt-get download` through a TEMPORARY deb822 source with its own package lists (/etc/apt is not touched,
# the temp folder is removed afterwards) and unpacked with `dpkg-deb -x` into the git-ignored .tools/cuda (no install, none
# of its 96 dependencies). Honours PTXAS=/path/to/ptxas. Exit code ≠ 0 (and nothing on stdout) when it cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PTXAS:-}" ]]; then echo "$PTXAS"; exit 0; fi
PTXAS="$PWD/.tools/cuda/usr/bin/ptxas"
if [[ ! -x "$PTXAS" ]]; then
  echo "== fetching ptxas (Debian non-free nvidia-cuda-toolkit) into .tools/cuda" >&2
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  mkdir -p "$TMP/sources.list.d" "$TMP/lists/partial" "$TMP/archives/partial"
  CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  cat > "$TMP/sources.list.d/boft-nonfree.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $CODENAME
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  APT=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$TMP/sources.list.d" -o "Dir::State::Lists=$TMP/lists"
       -o "Dir::Cache::Archives=$TMP/archives" -o "Debug::NoLocking=1")
  apt-get "${APT[@]}" update -qq >&2
  (cd "$TMP" && apt-get "${APT[@]}" download -qq nvidia-cuda-toolkit >&2)
  mkdir -p .tools/cuda
  dpkg-deb -x "$TMP"/nvidia-cuda-toolkit_*.deb .tools/cuda
fi
"$PTXAS" --version >/dev/null
echo "$PTXAS"

#!/usr/bin/env bash
# Prints the path of NVIDIA's ptxas, downloading it first when needed: Debian's non-free nvidia-cuda-toolkit (11.8, ~84 MB)
# is fetched with `apt-get download` through a TEMPORARY deb822 source with its own package lists (/etc/apt is not touched,
# the temp folder is removed afterwards) and unpacked with `dpkg-deb -x` into the git-ignored .tools/cuda (no install, none
# of its 96 dependencies). The Debian mirror is the one this machine's apt already uses for its release (read from
# /etc/apt/sources.list.d/*.sources, deb822, or /etc/apt/sources.list and *.list, one-line format); DEBIAN_MIRROR=URL
# overrides it. No host name is written here. Honours PTXAS=/path/to/ptxas. Exit code ≠ 0 (and nothing on stdout) when it
# cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

# The first URI of an enabled "deb" source for the release $1 (not -security or -updates) in the apt configuration.
configured_mirror() {
  local codename="$1" uri=""
  shopt -s nullglob
  local sources=(/etc/apt/sources.list.d/*.sources) lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  shopt -u nullglob
  if ((${#sources[@]})); then
    uri=$(awk -v cn="$codename" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; types = ""; enabled = 1
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          if (line ~ /^URIs:/)    { sub(/^URIs:[ \t]*/, "", line); uris = line }
          if (line ~ /^Suites:/)  { sub(/^Suites:[ \t]*/, "", line); suites = " " line " " }
          if (line ~ /^Types:/)   { sub(/^Types:[ \t]*/, "", line); types = " " line " " }
          if (line ~ /^Enabled:[ \t]*no/) enabled = 0
        }
        if (enabled && index(types, " deb ") && index(suites, " " cn " ")) { split(uris, u, " "); print u[1]; exit }
      }' "${sources[@]}")
  fi
  if [[ -z "$uri" ]]; then
    local existing=()
    for f in "${lists[@]}"; do [[ -f "$f" ]] && existing+=("$f"); done
    if ((${#existing[@]})); then
      uri=$(sed -E -e 's/#.*//' -e 's/\[[^]]*\]//' "${existing[@]}" | awk -v cn="$codename" '$1 == "deb" && $3 == cn { print $2; exit }')
    fi
  fi
  echo "$uri"
}
if [[ -n "${PTXAS:-}" ]]; then echo "$PTXAS"; exit 0; fi
PTXAS="$PWD/.tools/cuda/usr/bin/ptxas"
if [[ ! -x "$PTXAS" ]]; then
  echo "== fetching ptxas (Debian non-free nvidia-cuda-toolkit) into .tools/cuda" >&2
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  mkdir -p "$TMP/sources.list.d" "$TMP/lists/partial" "$TMP/archives/partial"
  CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [[ -z "$CODENAME" ]]; then echo "fetch-ptxas: /etc/os-release names no VERSION_CODENAME; is this Debian?" >&2; exit 1; fi
  MIRROR="${DEBIAN_MIRROR:-$(configured_mirror "$CODENAME")}"
  if [[ -z "$MIRROR" ]]; then
    echo "fetch-ptxas: no apt source for '$CODENAME' in /etc/apt/sources.list(.d); set DEBIAN_MIRROR to a Debian mirror URL or PTXAS to a ptxas." >&2
    exit 1
  fi
  echo "== Debian mirror from the apt configuration: $MIRROR" >&2
  cat > "$TMP/sources.list.d/boft-nonfree.sources" <<SRC
Types: deb
URIs: $MIRROR
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

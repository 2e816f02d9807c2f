#!/usr/bin/env bash
# Checks the precompiled mode's lists (include/gluino/detail/precompiled.hpp): every
# GLUINO_*_INSTANTIATIONS list a header defines is declared extern in that header and expanded
# by exactly one source of the precompiled library (src/), and src/ expands no other list.
# Prints each violation and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
defined=$(grep -rhoE '^#define GLUINO_[A-Z0-9_]+_INSTANTIATIONS\(' include/gluino --exclude=precompiled.hpp | sed -E 's/^#define ([A-Z0-9_]+)\(/\1/' | sort)
for list in $defined; do
  header=$(grep -rlE "^#define $list\(" include/gluino)
  if ! grep -qE "^GLUINO_(DATA_)?EXTERN_INSTANTIATIONS\($list\)" "$header"; then
    echo "$header: defines $list but does not declare it (GLUINO_EXTERN_INSTANTIATIONS($list))"
    bad=1
  fi
  n=$( (grep -rhoE "GLUINO_INSTANTIATIONS\($list\)" src || true) | wc -l)
  if [[ $n != 1 ]]; then
    echo "$list ($header): expanded $n times in src/, expected once"
    bad=1
  fi
done
for list in $(grep -rhoE 'GLUINO_INSTANTIATIONS\(GLUINO_[A-Z0-9_]+\)' src | sed -E 's/.*\((.*)\)/\1/' | sort -u); do
  if ! grep -qx "$list" <<<"$defined"; then
    echo "src/ expands $list, which no header defines"
    bad=1
  fi
done
if [[ $bad == 0 ]]; then
  echo "instantiations: $(wc -w <<<"$defined") lists, each declared in its header and defined once in src/"
fi
exit $bad

#!/usr/bin/env bash
# Prints the path of a Python >= 3.13 interpreter, or explains what to install and exits 1.
# Order: $PYTHON, python3.13 on PATH, python3, then pyenv's installed versions (pyenv's
# python3.13 shim refuses to run while the global version is older, so ask pyenv directly).
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' >/dev/null 2>&1; }
for cand in "${PYTHON:-}" python3.13 python3 python; do
  [ -n "$cand" ] || continue
  path=$(command -v "$cand" 2>/dev/null) || continue
  if ok "$path"; then echo "$path"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for dir in $(ls -d "$root"/versions/3.1[3-9]* 2>/dev/null | sort -rV); do
    for exe in "$dir"/bin/python3.1[3-9] "$dir"/bin/python3; do
      if [ -x "$exe" ] && ok "$exe"; then echo "$exe"; exit 0; fi
    done
  done
fi
cat >&2 <<'MSG'
error: no Python >= 3.13 found (tried $PYTHON, python3.13, python3, python, pyenv versions).
Install one, e.g. `pyenv install 3.13` or your OS package `python3.13` (with venv),
or point at it: `make install PYTHON=/path/to/python3.13`.
MSG
exit 1

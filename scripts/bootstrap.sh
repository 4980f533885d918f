#!/usr/bin/env bash
# Bring a fresh machine to the point where `make test` and `make demo` can run:
# a Python >= 3.12 virtual environment with qnms installed (editable, dev extras), and
# the Debian tools the tests judge interoperability with. Idempotent and fast on a
# second run: it reinstalls only when pyproject.toml or setup.py changed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
STAMP="$VENV/.qnms-installed"

have_312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local c
  for c in "${PYTHON:-}" python3.12 python3.13 python3; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && have_312 "$(command -v "$c")" && { command -v "$c"; return; }
  done
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for c in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.1[3-9]*/bin/python3; do
    [ -x "$c" ] && have_312 "$c" && { echo "$c"; return; }
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! have_312 "$VENV/bin/python"; then
  if ! PY=$(find_python); then
    echo "error: qnms needs Python >= 3.12 (SeQUeNCe 1.x requires it); none found on PATH or under pyenv." >&2
    echo "       install one (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12" >&2
    exit 1
  fi
  echo "bootstrap: creating $VENV with $PY"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ setup.py -nt "$STAMP" ]; then
  echo "bootstrap: installing qnms and its dependencies into $VENV (first run takes a minute)"
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  # pyangbind drags in enum34, which shadows the standard enum module (STACK-NOTES).
  "$VENV/bin/python" -m pip uninstall -q -y enum34 >/dev/null 2>&1 || true
  touch "$STAMP"
fi

# Debian tools: yanglint validates models and data; yangcli/netconfd and sshd are the
# third-party NETCONF peers of the interoperability tests and benchmarks; chromium is the
# browser the console's tests drive (through Playwright, never a downloaded browser).
missing=()
command -v yanglint >/dev/null 2>&1 || missing+=(libyang2-tools)
command -v yangcli >/dev/null 2>&1 || missing+=(yangcli)
command -v netconfd >/dev/null 2>&1 || missing+=(netconfd)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: missing Debian packages ${missing[*]} (run as root or install them); tests that need them will fail" >&2
  fi
fi

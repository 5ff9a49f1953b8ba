#!/usr/bin/env bash
# Refuse, in one line, a Python older than the pinned packages need (numpy 2.4 and imageio 2.38
# need 3.11): under 3.10, `make run` failed deep in pip with "No matching distribution found".
# usage: PYTHON=python3 bash scripts/check_python.sh
set -u
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  version=$("$PYTHON" --version 2>/dev/null || echo missing)
  echo "make: GANlift needs Python 3.11 or newer; PYTHON=$PYTHON is $version." \
    "Pass PYTHON=python3.11 (or newer)." >&2
  exit 1
fi

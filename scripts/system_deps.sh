#!/usr/bin/env bash
# Install the Debian runtime libraries GANlift needs, or say exactly which are missing.
#   PYTHON (default python3) is the interpreter the venv is made from.
#   scripts/system_deps.sh run    libraries for the app (Open3D, offscreen rendering)
#   scripts/system_deps.sh test   the same plus Chromium for the browser tests
# Never fails: without root or apt-get it prints the install command and carries on.
set -u
packages=(libgomp1 libusb-1.0-0 libgl1 libegl1 libvulkan1 mesa-vulkan-drivers)
if [ "${1:-run}" = "test" ]; then
  packages+=(chromium chromium-driver)
fi
# Debian's Python makes no venv without its pythonX.Y-venv package (ensurepip).
python=${PYTHON:-python3}
if command -v "$python" >/dev/null 2>&1 && ! "$python" -c 'import ensurepip' 2>/dev/null; then
  packages+=("$("$python" -c 'import sys; print(f"python3.{sys.version_info[1]}-venv")')")
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system-deps: not a Debian/Ubuntu system; make sure these (or their equivalents) are installed: ${packages[*]}"
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "system-deps: apt-get could not install them; try: apt-get install ${missing[*]}"
else
  echo "system-deps: missing Debian packages: ${missing[*]}"
  echo "system-deps: install them with: sudo apt-get install ${missing[*]}"
fi
exit 0

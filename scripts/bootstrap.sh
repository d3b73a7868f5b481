# shellcheck shell=bash
# Sourced by scripts/demo and scripts/test: makes a fresh Debian / Raspberry Pi OS machine ready.
# Idempotent and quick when nothing changed: a stamp records what was installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KIOSK_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# PostgreSQL server binaries (initdb, postgres) live in /usr/lib/postgresql/NN/bin, outside PATH.
have_cmd() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] \
    || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}

# Debian packages the project needs at run and test time: "command package" pairs.
# A missing command is installed with apt-get when we are root; otherwise we say what to install.
DEB_NEEDS=(
  "mosquitto mosquitto"
  "mosquitto_pub mosquitto-clients"
)
# Extra packages for `scripts/test` only (set by the caller before sourcing).
DEB_NEEDS+=("${DEB_TEST_NEEDS[@]+"${DEB_TEST_NEEDS[@]}"}")

install_debian_packages() {
  local missing=() pair cmd pkg
  for pair in "${DEB_NEEDS[@]}"; do
    cmd="${pair%% *}"; pkg="${pair##* }"
    if ! have_cmd "$cmd"; then missing+=("$pkg"); fi
  done
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=("python3-venv"); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing Debian packages: ${missing[*]}. Run: sudo apt-get install ${missing[*]}"
  fi
}

check_python() {
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "Python >= 3.11 is required ($PY is $("$PY" --version 2>&1))"
}

# The decoder needs OpenCV's contrib build (its wechat_qrcode module). The plain build, left over from an
# older pyproject.toml or pulled in by hand, shares the `cv2` package directory: with both installed, the
# last one written wins file by file, and uninstalling either breaks the other. So: remove the plain
# builds, then rewrite the contrib build's files.
only_contrib_opencv() {
  local plain=() name spec
  for name in opencv-python-headless opencv-python; do
    if "$VENV/bin/python" -m pip show -q "$name" >/dev/null 2>&1; then plain+=("$name"); fi
  done
  [ ${#plain[@]} -eq 0 ] && return 0
  spec="$(grep -o '"opencv-contrib-python-headless[^"]*"' "$ROOT/pyproject.toml" | tr -d '"')"
  say "removing ${plain[*]} (the contrib build replaces it) and reinstalling $spec"
  "$VENV/bin/python" -m pip uninstall -y -q --disable-pip-version-check "${plain[@]}" >>"$VENV/pip.log" 2>&1 \
    || { tail -n 40 "$VENV/pip.log" >&2; die "removing ${plain[*]} failed"; }
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$spec" \
    >>"$VENV/pip.log" 2>&1 || { tail -n 40 "$VENV/pip.log" >&2; die "reinstalling $spec failed"; }
}

make_venv() {
  local stamp="$VENV/.installed" want
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    local site=()
    # On a Pi, picamera2 comes from apt (it needs libcamera, which PyPI lacks).
    if "$PY" -c 'import picamera2' >/dev/null 2>&1 || [ -d /usr/lib/python3/dist-packages/picamera2 ]; then
      site=(--system-site-packages)
    fi
    say "creating virtual environment in $VENV ${site[*]}"
    "$PY" -m venv "${site[@]}" "$VENV"
  fi
  say "installing Python packages (pyproject.toml changed or first run)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  # Every role (pyproject.toml extras): the demo and the tests run kiosks, the hub and the provisioning tools
  # on this one machine. A Raspberry Pi installs `.[kiosk]` only (README, Set-up).
  "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$ROOT[kiosk,hub,provision,test]" \
    >"$VENV/pip.log" 2>&1 \
    || { tail -n 40 "$VENV/pip.log" >&2; die "pip install failed (full log: $VENV/pip.log)"; }
  only_contrib_opencv
  "$VENV/bin/python" -c 'import kiosk, zxingcpp, cv2, paho.mqtt, gpiozero; cv2.wechat_qrcode_WeChatQRCode' \
    || die "Python packages did not install; see the pip output above"
  echo "$want" >"$stamp"
}

check_python
install_debian_packages
make_venv
export PATH="$VENV/bin:$PATH:/usr/sbin"

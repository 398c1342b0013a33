#!/usr/bin/env bash
# Debian's Chromium (the browser tests drive it through playwright-core; a
# browser is never downloaded) and a CJK font, so the Chinese screens render
# in the screenshots instead of as boxes. Installs only what is missing.
set -euo pipefail
need=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi 'WenQuanYi Micro Hei' || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (apt)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
fi
"${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null

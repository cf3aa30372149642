#!/usr/bin/env bash
# Installs the two system tools the grader uses when they are missing and we may install them:
# bubblewrap (the sandbox) and chromium (browser checks of the HTML reports).
# Never fails: without them the sandbox falls back loudly and browser tests skip with a reason.
set -u
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[[ ${#need[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: installing ${need[*]} with apt-get"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/tmp/grader-sysdeps.log 2>&1; then
    (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${need[@]}" >>/tmp/grader-sysdeps.log 2>&1) ||
      echo "sysdeps: could not install ${need[*]} (see /tmp/grader-sysdeps.log); continuing without"
  fi
else
  echo "sysdeps: missing ${need[*]}; install them (e.g. apt-get install ${need[*]}) for full isolation and browser checks"
fi
exit 0

#!/usr/bin/env bash
# Install the Debian packages the tests and the bench need, only when missing: PostgreSQL (server binaries),
# dovecot (a real IMAP server the `imap_poll` tests start unprivileged; its system service is switched off),
# Chromium, wrk.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v wrk >/dev/null || need+=(wrk)  # HTTP load for bench/ (make bench)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [[ " ${need[*]} " == *" dovecot-imapd "* ]] && command -v systemctl >/dev/null; then
  # Debian starts an IMAP server on ports 143/993 on install; the tests run their own, nothing needs this one.
  $sudo systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi

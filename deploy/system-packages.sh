#!/bin/sh
# Installs the Debian packages the platform needs, if missing and if this machine lets us:
#   fonts-noto-cjk        Chinese glyphs for PDF reports
#   libharfbuzz-subset0   font subsetting in C (WeasyPrint otherwise falls back to fontTools: ~5x slower)
#   gettext               compiles the Chinese translations
#   chromium              the browser the end-to-end tests drive (through Playwright)
#   poppler-utils         pdftotext / pdftoppm: the report tests read and render the PDFs
set -eu
PACKAGES="fonts-noto-cjk libharfbuzz-subset0 gettext chromium poppler-utils"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: missing system packages:$missing (install them with apt-get as root; PDFs need them)" >&2
    exit 0
fi
echo "installing system packages:$missing"
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a second checkout's `make test`, unattended upgrades) holds dpkg's lock for a
# while: wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=900 update -qq >/dev/null
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $missing >/dev/null

#!/usr/bin/env bash
# Install everything sla-lang needs on a fresh Debian/Ubuntu machine (or a CI runner):
# the fonts the PDF uses, then the package with all extras (Typst, the PDF engine, is a wheel).
# Safe to run twice. Without root or apt-get it installs only the Python package and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  fontconfig                                                          # fc-list: where the PDF's font files are
  fonts-noto-cjk fonts-dejavu-core                                    # Japanese with a real bold (Noto Sans CJK JP) and Latin fonts
  fonts-ipaexfont                                                     # the Japanese fallback (one weight) and sla sign's stamp font
  poppler-utils                                                       # pdffonts/pdftoppm/pdftotext used by the tests
  git                                                                 # sla diff REV:path
  jq                                                                  # the tests run the example workflow's approval filter
  gcc libc6-dev python3-dev                                           # compiling the optional accelerated modules (below)
)

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
else
  echo "install.sh: no apt-get (or no root): install ${PACKAGES[*]} with your package manager for PDF output" >&2
fi

python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[all]'
# The parser, lowering and checks compiled with Cython (sla_lang/_compiled.py): `sla check` of a
# large policy takes ~20 % less CPU. Optional: without a compiler the Python modules are used.
if python3 -m pip install --quiet 'cython>=3.0' setuptools && python3 -m sla_lang.accelerate build; then
  :
else
  echo "install.sh: warning: the accelerated modules were not compiled; sla works, only slower (see README, Performance)" >&2
fi
# An editable install gets no bytecode, and with PYTHONDONTWRITEBYTECODE (common in CI and
# containers) Python would recompile every module at each `sla` start (~60 ms).
python3 -m compileall -q sla_lang
echo "sla-lang installed: $(sla --version)"

#!/usr/bin/env bash
# Installs the Debian packages Atelier needs, skipping those already present.
# Uses sudo when not run as root. Safe to run again.
set -euo pipefail

packages=(
  ocl-icd-opencl-dev   # OpenCL ICD loader (loaded at run time) and its headers
  opencl-headers       # CL/cl.h
  libpng-dev           # PNG sample sheets and image folders
  libturbojpeg0-dev    # JPEG image folders (libjpeg-turbo's TurboJPEG API)
  zlib1g-dev           # Fashion-MNIST ships gzip'd
  libopenblas-dev      # cblas_sgemm for the CPU path
  libcairo2-dev        # loss charts and sheet labels: lines and text drawn with cairo
  fonts-dejavu-core    # the font of their text
  pocl-opencl-icd      # an OpenCL device on any CPU
  clinfo               # to inspect OpenCL devices by hand
  dataset-fashion-mnist # the default dataset, in /usr/share/datasets/fashion-mnist
  gimp-data            # real photographic textures (fabric, leather, ...) as GIMP .pat files
  oclgrind             # an OpenCL device simulator: kernel race and out-of-bounds checks in the tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "install-deps: missing ${missing[*]}, and there is no apt-get here; install them with your package manager" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo=(sudo); else
    echo "install-deps: missing ${missing[*]}; run this script as root (there is no sudo)" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

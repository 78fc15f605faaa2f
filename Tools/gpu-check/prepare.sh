#!/usr/bin/env bash
# Prepares, on this machine, everything the GPU check needs on the lent
# device machine (no Swift, no apt there): static-stdlib release binaries and
# the Debian packages of the shared libraries they load. Output goes to
# Tools/gpu-check/vendor/ (git-ignored), which the `run` call carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
vendor=Tools/gpu-check/vendor
rm -rf "$vendor"
mkdir -p "$vendor/bin" "$vendor/debs"

swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product atelier
swift build -c release --static-swift-stdlib --scratch-path .build-gpu --product atelier-bench
# Static Foundation makes each binary ~60 MB; stripped and gzip'd both fit
# the 64 MiB a run can carry.
for b in atelier atelier-bench; do
  strip -o "$vendor/bin/$b" ".build-gpu/release/$b"
  gzip -9 "$vendor/bin/$b"
done

# Libraries the binaries load that a CUDA image may lack; libOpenCL is
# dlopen'ed, so ldd does not list it.
(cd "$vendor/debs" && apt-get download ocl-icd-libopencl1 libpng16-16 libturbojpeg0 libopenblas0-pthread libgfortran5 libquadmath0 zlib1g >/dev/null 2>&1)

echo "shared libraries still needed by the binaries:"
ldd .build-gpu/release/atelier-bench | grep -v -E 'linux-vdso|ld-linux' | sed 's/^/  /'
du -sh "$vendor"

#!/usr/bin/env bash
# Runs on the device machine (NVIDIA GPU, no Swift, no apt): lists OpenCL
# devices, checks every kernel against the CPU path on the GPU and times
# them, sweeps the tunables, and writes everything under $OUT.
# Needs Tools/gpu-check/vendor/ from prepare.sh. Also runs here on PoCL.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/atelier-gpu-check}
mkdir -p "$OUT"
vendor=$(pwd)/Tools/gpu-check/vendor
prefix=$(mktemp -d)
exec > >(tee "$OUT/log.txt") 2>&1

echo "== machine"; date -u; uname -a
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv

echo "== private prefix for the vendored libraries"
for deb in "$vendor"/debs/*.deb; do dpkg-deb -x "$deb" "$prefix" 2>/dev/null || dpkg -x "$deb" "$prefix"; done
libdirs=$(find "$prefix" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:-}"
export ATELIER_OPENCL_LIBRARY=$(find "$prefix" -name 'libOpenCL.so.1' | head -1)
echo "ICD loader: ${ATELIER_OPENCL_LIBRARY:-not found}"

# The NVIDIA OpenCL driver comes with the mounted driver; point the loader at
# it when the image has no vendor file.
nvidia=$(find /usr/local/nvidia /usr/lib /usr/lib64 /usr/lib/x86_64-linux-gnu -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1)
if [ -n "$nvidia" ] && [ ! -e /etc/OpenCL/vendors/nvidia.icd ]; then
  mkdir -p "$prefix/vendors"
  echo "$nvidia" > "$prefix/vendors/nvidia.icd"
  export OCL_ICD_VENDORS="$prefix/vendors"
fi
echo "NVIDIA OpenCL driver: ${nvidia:-not found}; OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-default}"
export ATELIER_CACHE_DIR="$prefix/cache"

bin="$prefix/bin"
mkdir -p "$bin"
for b in atelier atelier-bench; do gunzip -c "$vendor/bin/$b.gz" > "$bin/$b" && chmod +x "$bin/$b"; done
echo "== devices"
"$bin/atelier" devices | tee "$OUT/devices.txt"
"$bin/atelier" devices --json > "$OUT/devices.json"

echo "== kernels: checked against the CPU path, then timed"
"$bin/atelier-bench" --device opencl --json > "$OUT/bench.json" 2> "$OUT/bench.stderr" ; echo "exit $?"
"$bin/atelier-bench" --device opencl --breakdown 2>/dev/null | tee "$OUT/bench.txt"

echo "== training steps (whole iterations, as atelier train runs them)"
for m in gan dcgan cdcgan; do
  "$bin/atelier-bench" --device opencl --model "$m" --batches 64,256 --repeats 20 --breakdown 2>/dev/null | tee -a "$OUT/steps.txt"
done
"$bin/atelier-bench" --device opencl --model pix2pix --image-size 256 --batches 1,8 --repeats 20 --breakdown 2>/dev/null | tee -a "$OUT/steps.txt"
"$bin/atelier-bench" --device opencl --model cyclegan --image-size 256 --batches 1 --repeats 10 --breakdown 2>/dev/null | tee -a "$OUT/steps.txt"

echo "== PyTorch on CUDA, same models and step (Tools/gpu-check/torch_cuda_step.py)"
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  for m in gan dcgan; do for b in 64 256; do
    python3 Tools/gpu-check/torch_cuda_step.py --model "$m" --batch "$b" --steps 50 2>&1 | tail -1 | tee -a "$OUT/torch-cuda.jsonl"
  done; done
  for b in 1 8; do
    python3 Tools/gpu-check/torch_cuda_step.py --model pix2pix --size 256 --batch "$b" --steps 50 2>&1 | tail -1 | tee -a "$OUT/torch-cuda.jsonl"
  done
  python3 Tools/gpu-check/torch_cuda_step.py --model cyclegan --size 256 --batch 1 --steps 30 2>&1 | tail -1 | tee -a "$OUT/torch-cuda.jsonl"
else
  echo "no PyTorch with CUDA here" | tee "$OUT/torch-cuda.jsonl"
fi

echo "== a short real training run on the GPU, with its sample sheet"
"$bin/atelier" train --model dcgan --device opencl --epochs 1 --out "$OUT/run-dcgan" 2>&1 | tail -3

echo "== tuning sweep: GEMM blocking, elementwise sizes, each layer's convolution algorithm (saved in the private cache)"
"$bin/atelier-bench" --device opencl --tune --save --repeats 3 2>&1 | tee "$OUT/tune.txt" | tail -45

echo "== training steps again, with the tuned setting"
for m in gan dcgan; do
  "$bin/atelier-bench" --device opencl --model "$m" --batches 64,256 --repeats 20 2>/dev/null | tee -a "$OUT/steps-tuned.txt"
done
"$bin/atelier-bench" --device opencl --model pix2pix --image-size 256 --batches 1,8 --repeats 20 2>/dev/null | tee -a "$OUT/steps-tuned.txt"
"$bin/atelier-bench" --device opencl --model cyclegan --image-size 256 --batches 1 --repeats 10 2>/dev/null | tee -a "$OUT/steps-tuned.txt"

echo "== CPU path on this machine, for scale"
"$bin/atelier-bench" --device cpu --kernel "gemm 1024" 2>/dev/null | tee "$OUT/bench-cpu.txt"

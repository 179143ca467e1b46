#!/usr/bin/env bash
# Data-parallel scaling on this machine: `bitdistill pretrain` tokens/s on 1 process and on 2 MPI ranks (1 thread each,
# the same rows per step: 1 × --grad-accumulation 2 against 2 ranks × 1), and the gradient all-reduce's share of the step.
# Usage: bench/data-parallel.sh [STEPS] [extra pretrain flags, e.g. the model shape]. Needs mpirun (openmpi-bin) and a
# Release build (dotnet build src/Cli -c Release). Wrap it in the shared build lock on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-40}; shift || true
dll=src/Cli/bin/Release/net10.0/bitdistill.dll
[ -f "$dll" ] || { echo "build first: dotnet build src/Cli -c Release" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "mpirun not found: apt-get install openmpi-bin" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
shape=(--batch 4 --seq-len 128 --steps "$steps" --checkpoint-every 100000 "$@")
tps() { grep -oE '[0-9.]+k tok/s' "$1" | tail -1; }
dotnet "$dll" pretrain --output "$tmp/one" --grad-accumulation 2 --threads 1 "${shape[@]}" > "$tmp/one.log" 2>&1 || { cat "$tmp/one.log"; exit 1; }
dotnet "$dll" pretrain --output "$tmp/threads" --grad-accumulation 2 --threads 2 "${shape[@]}" > "$tmp/threads.log" 2>&1 || { cat "$tmp/threads.log"; exit 1; }
mpirun -np 2 --oversubscribe --bind-to none dotnet "$dll" pretrain --output "$tmp/two" --threads 1 "${shape[@]}" > "$tmp/two.log" 2>&1 || { cat "$tmp/two.log"; exit 1; }
grep -m1 '^pretraining' "$tmp/one.log"
echo "| processes | rows per step | tokens/s |"
echo "|---|---:|---:|"
echo "| 1 (1 thread, 2 micro-batches accumulated) | 8 | $(tps "$tmp/one.log") |"
echo "| 1 (2 threads, 2 micro-batches accumulated) | 8 | $(tps "$tmp/threads.log") |"
echo "| 2 MPI ranks (1 thread each) | 8 | $(tps "$tmp/two.log") |"
grep 'gradient all-reduce' "$tmp/two.log" | sed 's/^\[pretrain\] //'
cmp -s "$tmp/one/model.safetensors" "$tmp/two/model.safetensors" && echo "final weights: bitwise equal" || echo "final weights: differ"

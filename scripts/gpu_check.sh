#!/usr/bin/env bash
# The GPU machine's one call: configure against the PyTorch wheel's libtorch
# (CUDA), build with the GUI off, run the CPU and GPU test suites, then the
# benchmarks. Logs and JSON land in $OUT (or ./gpu-out).
#
# Before sending it: bash scripts/vendor_deps.sh (header-only libraries,
# CUTLASS/CuTe included, travel in .deps/, which must be named in the call's
# carry list).
#
#   scripts/gpu_check.sh [all|kernels|models|mlp|parallel|floors]
# kernels: build, GPU tests, compute-sanitizer on small kernel cases, kernel
# benchmarks; models: build, the CPU tests, the gpt2 runs, profiles and the
# model benchmark; mlp: only the MLP's GPU tests, bench_mlp and the Hopper
# GEMM's configuration sweep (bench_mlp_sm90_tune; variables below choose
# filters, further bench_mlp runs, a memcheck and a racecheck); parallel: NCCL, ring
# attention and tensor parallelism (GPU tests, bench_ring_attention, and
# `mlopt run --tensor-parallel` on every GPU count the machine has); floors:
# the gpt2 latency targets (combined, + CUDA graphs) beside their floors, and
# a profile of the optimized model saying where the rest goes; all
# (default): kernels and models.
set -uo pipefail
mode=${1:-all}
case "$mode" in all|kernels|models|mlp|parallel|floors) ;; *) echo "usage: $0 [all|kernels|models|mlp|parallel|floors]" >&2; exit 2 ;; esac
want() { [ "$mode" = all ] || [ "$mode" = "$1" ]; }
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu-out}
# Inside the tree (git-ignored): the GPU machine keeps ignored build outputs
# between calls, so a second call only rebuilds what changed.
build=${MLOPT_GPU_BUILD_DIR:-$root/build-gpu}
# The parallel checks need no Hopper kernels (CUTLASS takes most of a build),
# and MLOPT_GPU_HOPPER=OFF leaves them out of any mode (a much shorter build
# when device time is short; their tests skip, kSm90 is not timed): a build
# dir of its own, configured without them.
extra=()
if [ "$mode" = parallel ] || [ "${MLOPT_GPU_HOPPER:-ON}" = OFF ]; then
  build=${MLOPT_GPU_BUILD_DIR:-$root/build-gpu-parallel}
  extra=(-DMLOPT_HOPPER_KERNELS=OFF)
fi
mkdir -p "$out"
cd "$root"

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "libtorch from $torch_prefix" | tee -a "$out/gpu.txt"

set -e
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLOPT_BUILD_GUI=OFF \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
  -DCMAKE_CUDA_ARCHITECTURES=90 "${extra[@]}" ${MLOPT_GPU_CMAKE_ARGS:-} >/tmp/configure.log 2>&1 || { cp /tmp/configure.log "$out/"; tail -40 /tmp/configure.log; exit 1; }
grep "mlopt:" /tmp/configure.log
targets=()
[ "$mode" = mlp ] && targets=(--target mlopt_mlp_gpu_tests bench_mlp bench_weight_stream)
[ "$mode" = mlp ] && [ ${#extra[@]} -eq 0 ] && targets+=(bench_mlp_sm90_tune)
[ "$mode" = floors ] && targets=(--target mlopt bench_models)
[ "$mode" = parallel ] && targets=(--target mlopt mlopt_nccl_gpu_tests mlopt_ring_attention_gpu_tests mlopt_core_gpu_tests
  mlopt_parallel_tests bench_ring_attention bench_tensor_parallel)
cmake --build "$build" -j 16 "${targets[@]}" >/tmp/build.log 2>&1 || { cp /tmp/build.log "$out/"; grep -E "error|FAILED" /tmp/build.log | head -40; exit 1; }
echo "build warnings: $(grep -c "warning:" /tmp/build.log || true)"
# Each warning with the line after it (the source line), for reading them back.
grep -A1 "warning:" /tmp/build.log > "$out/build-warnings.txt" || true
set +e

status=0
if [ "$mode" = mlp ]; then
  # MLOPT_MLP_TEST_FILTER: a gtest filter for the MLP's GPU tests (default: all);
  # MLOPT_BENCH_MLP_ARGS: extra bench_mlp arguments (e.g. --kernels).
  "$build/tests/kernels/mlopt_mlp_gpu_tests" --gtest_filter="${MLOPT_MLP_TEST_FILTER:-*}" >"$out/mlp-gpu-tests.log" 2>&1 || status=1
  tail -5 "$out/mlp-gpu-tests.log"; grep -E "FAILED|Failure" "$out/mlp-gpu-tests.log" | head -20
  # MLOPT_BENCH_STREAM=1: the weights' read bandwidth by access pattern first.
  if [ "${MLOPT_BENCH_STREAM:-0}" = 1 ]; then
    "$build/bench/bench_weight_stream" --json "$out/weight-stream.json" >"$out/weight-stream.txt" 2>&1 || status=1
    cat "$out/weight-stream.txt"
  fi
  # MLOPT_SKIP_SM90_TUNE=1 leaves out the Hopper GEMM's configuration sweep.
  [ "${MLOPT_SKIP_SM90_TUNE:-0}" = 1 ] || [ ${#extra[@]} -gt 0 ] || "$build/bench/bench_mlp_sm90_tune" --json "$out/mlp-sm90-tune.json" || status=1
  # shellcheck disable=SC2086
  "$build/bench/bench_mlp" --json "$out/mlp-bench.json" ${MLOPT_BENCH_MLP_ARGS:-} > "$out/mlp-bench.txt" 2>&1 || status=1
  cat "$out/mlp-bench.txt"
  # MLOPT_BENCH_MLP_RUNS: further bench_mlp runs, their argument lists
  # separated by '|' (run N writes mlp-bench-runN.json and .txt).
  n=0
  IFS='|' read -ra runs <<<"${MLOPT_BENCH_MLP_RUNS:-}"
  for args in "${runs[@]}"; do
    n=$((n + 1))
    echo "== bench_mlp run $n: $args"
    # shellcheck disable=SC2086
    "$build/bench/bench_mlp" --json "$out/mlp-bench-run$n.json" $args > "$out/mlp-bench-run$n.txt" 2>&1 || status=1
    cat "$out/mlp-bench-run$n.txt"
  done
  # MLOPT_MLP_SANITIZE=FILTER: compute-sanitizer memcheck over those MLP GPU tests.
  if [ -n "${MLOPT_MLP_SANITIZE:-}" ]; then
    timeout 300 /usr/local/cuda/bin/compute-sanitizer --tool memcheck --error-exitcode 9 \
      "$build/tests/kernels/mlopt_mlp_gpu_tests" --gtest_filter="$MLOPT_MLP_SANITIZE" >"$out/mlp-sanitizer.log" 2>&1 || status=1
    echo "compute-sanitizer memcheck on $MLOPT_MLP_SANITIZE: $(grep -E "ERROR SUMMARY" "$out/mlp-sanitizer.log")"
  fi
  # MLOPT_MLP_RACECHECK=FILTER: compute-sanitizer racecheck (shared memory) over those MLP GPU tests.
  if [ -n "${MLOPT_MLP_RACECHECK:-}" ]; then
    timeout 300 /usr/local/cuda/bin/compute-sanitizer --tool racecheck --error-exitcode 9 \
      "$build/tests/kernels/mlopt_mlp_gpu_tests" --gtest_filter="$MLOPT_MLP_RACECHECK" >"$out/mlp-racecheck.log" 2>&1 || status=1
    echo "compute-sanitizer racecheck on $MLOPT_MLP_RACECHECK: $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY" "$out/mlp-racecheck.log")"
  fi
  exit $status
fi
if [ "$mode" = floors ]; then
  mlopt="$build/app/mlopt"
  model4k=/tmp/mlopt-gpt2-4k.pt
  "$mlopt" make-model gpt2 --preset gpt2 --positions 4096 -o "$model4k" >/dev/null
  "$build/bench/bench_models" "$model4k" --device cuda --dtype fp16 --iters 50 --warmup 10 \
    --sizes 1x1024,8x1024 --variants baseline,combined,combined_cuda_graphs --json "$out/models-floors.json" || status=1
  "$mlopt" optimize "$model4k" --input 'ids:int64[8,1024]' --device cuda --dtype fp16 --flash-attention --fused-mlp \
    --align-linear -o /tmp/mlopt-gpt2-opt.pt >/dev/null || status=1
  for size in 8,1024 1,1024; do
    "$mlopt" profile /tmp/mlopt-gpt2-opt.pt --input "ids:int64[$size]" --device cuda --iters 10 --warmup 5 \
      >"$out/profile-optimized-$size.txt" 2>&1 || status=1
    head -45 "$out/profile-optimized-$size.txt"
  done
  exit $status
fi
if [ "$mode" = parallel ]; then
  nvidia-smi topo -m > "$out/topology.txt" 2>&1
  for t in mlopt_nccl_gpu_tests mlopt_ring_attention_gpu_tests mlopt_parallel_tests; do
    find "$build" -name "$t" -type f -executable -exec {} \; >"$out/$t.log" 2>&1 || status=1
    echo "$t: $(grep -E "PASSED|FAILED  \]" "$out/$t.log" | tr '\n' ' ')"
    grep -E "Failure|FAILED" -A6 "$out/$t.log" | head -30
  done
  "$build/tests/core/mlopt_core_gpu_tests" --gtest_filter='TensorParallel*:TransformsCuda*' >"$out/tp-gpu-tests.log" 2>&1 || status=1
  echo "TensorParallel/TransformsCuda GPU tests: $(grep -E "PASSED|FAILED  \]|SKIPPED \]" "$out/tp-gpu-tests.log" | tr '\n' ' ')"
  grep -E "Failure" -A6 "$out/tp-gpu-tests.log" | head -30
  "$build/bench/bench_ring_attention" --json "$out/ring-attention.json" >"$out/ring-attention.txt" 2>&1 || status=1
  cat "$out/ring-attention.txt"
  mlopt="$build/app/mlopt"
  "$mlopt" make-model llama --preset 1b --dtype fp16 -o /tmp/mlopt-llama-1b.pt >/dev/null
  gpus=$(nvidia-smi -L | wc -l)
  {
    "$build/bench/bench_tensor_parallel" /tmp/mlopt-llama-1b.pt --input 'ids:int64[2,2048]' --ranks 1,2,4,8 \
      --json "$out/tensor-parallel-llama1b.json"
    "$build/bench/bench_tensor_parallel" /tmp/mlopt-llama-1b.pt --input 'ids:int64[2,2048]' --ranks 2,4,8 \
      --sequence-parallel
    [ "$gpus" -ge 2 ] && "$mlopt" run /tmp/mlopt-llama-1b.pt --input 'ids:int64[2,2048]' --device cuda --iters 20 \
      --warmup 5 --nproc-per-node 2
    # One GPU: more ranks than GPUs must be refused clearly (exit 2), not crash or hang.
    "$mlopt" run /tmp/mlopt-llama-1b.pt --input 'ids:int64[1,64]' --device cuda --tensor-parallel $((gpus + 1))
    echo "tensor parallel over more GPUs than exist: exit $? (expected 2)"
  } >"$out/tensor-parallel-llama1b.txt" 2>&1 || status=1
  cat "$out/tensor-parallel-llama1b.txt"
  exit $status
fi
# MLOPT_GPU_TESTS=REGEX runs only the GPU tests it matches (a short call).
ctest --test-dir "$build" -L gpu ${MLOPT_GPU_TESTS:+-R "$MLOPT_GPU_TESTS"} --output-on-failure \
  >"$out/ctest-gpu.log" 2>&1 || status=1
tail -15 "$out/ctest-gpu.log"
if want models; then
  ctest --test-dir "$build" -L cpu -j 16 --output-on-failure >"$out/ctest-cpu.log" 2>&1 || status=1
  tail -8 "$out/ctest-cpu.log"
fi

if want kernels; then
  "$build/bench/bench_attention" --json "$out/attention-bench.json" > "$out/attention-bench.txt" 2>&1 || status=1
  cat "$out/attention-bench.txt"
  "$build/bench/bench_mlp" --json "$out/mlp-bench.json" > "$out/mlp-bench.txt" 2>&1 || status=1
  cat "$out/mlp-bench.txt"
  # Out-of-bounds accesses, shared-memory races and barrier misuse on small cases.
  sanitizer=/usr/local/cuda/bin/compute-sanitizer
  timeout 300 "$sanitizer" --tool memcheck --error-exitcode 9 "$build/tests/kernels/mlopt_attention_gpu_tests" \
    --gtest_filter='*Sm90ManyHeadsAndTiles*' >"$out/sanitizer-sm90.log" 2>&1 &&
    timeout 300 "$sanitizer" --tool memcheck --error-exitcode 9 "$build/tests/kernels/mlopt_mlp_gpu_tests" \
      --gtest_filter='*Sm90EveryActivationLayoutAndResidue*' >>"$out/sanitizer-sm90.log" 2>&1 || status=1
  echo "compute-sanitizer memcheck on the Hopper kernels: $(grep -c "ERROR SUMMARY: 0 errors" "$out/sanitizer-sm90.log") of 2 runs clean"
  for tool in memcheck racecheck synccheck; do
    {
      timeout 300 "$sanitizer" --tool "$tool" --error-exitcode 9 "$build/tests/kernels/mlopt_attention_gpu_tests" \
        --gtest_filter='*GroupedAndMultiQueryAcrossTiles*:*LayoutsAlignedAndUnaligned*' &&
        timeout 300 "$sanitizer" --tool "$tool" --error-exitcode 9 "$build/tests/kernels/mlopt_attention_decode_gpu_tests" \
          --gtest_filter='*SanitizerSmallCases*'
    } >"$out/sanitizer-$tool.log" 2>&1 || status=1
    echo "compute-sanitizer $tool: $(grep -cE "(ERROR SUMMARY: 0 errors|RACECHECK SUMMARY: 0 hazards)" "$out/sanitizer-$tool.log") of 2 runs clean"
  done
fi
want models || exit $status

mlopt="$build/app/mlopt"
"$mlopt" devices
model=/tmp/mlopt-gpt2.pt
"$mlopt" make-model gpt2 --preset gpt2 -o "$model"
for size in 1,128 1,1024 8,1024; do
  "$mlopt" run "$model" --input "ids:int64[$size]" --device cuda --dtype fp16 --iters 50 --warmup 10 \
    --project "$out/gpt2-fp16.mlopt" >>"$out/mlopt-run-gpt2-fp16.txt" 2>&1 || status=1
  echo >>"$out/mlopt-run-gpt2-fp16.txt"
done
grep -E "^(input|forward)" "$out/mlopt-run-gpt2-fp16.txt"
# A request that cannot fit: one clear line and status 1, not a crash.
"$mlopt" make-model gpt2 --preset tiny -o /tmp/mlopt-tiny.pt >/dev/null
"$mlopt" run /tmp/mlopt-tiny.pt --input 'ids:int64[524288,128]' --device cuda --iters 1 --warmup 0
echo "out-of-memory run exit status: $? (expected 1)"
# The transforms on the gpt2 sample (positions extended to 4096): what they
# match and their verification, the saved model running, and bench_models'
# table (baseline, each transform, combined) at four sizes.
model4k=/tmp/mlopt-gpt2-4k.pt
"$mlopt" make-model gpt2 --preset gpt2 --positions 4096 -o "$model4k" >/dev/null
{
  "$mlopt" optimize "$model4k" --input 'ids:int64[8,1024]' --device cuda --dtype fp16 --flash-attention --fused-mlp --align-linear \
    -o /tmp/mlopt-gpt2-opt.pt --project "$out/gpt2-fp16.mlopt" &&
    "$mlopt" run /tmp/mlopt-gpt2-opt.pt --input 'ids:int64[8,1024]' --device cuda --iters 20 &&
    "$mlopt" compare "$model4k" --input 'ids:int64[8,1024]' --device cuda --dtype fp16 --flash-attention --fused-mlp --align-linear \
      --cuda-graphs \
      --iters 20 --repeats 5 --project "$out/gpt2-fp16.mlopt"
} >"$out/optimize-gpt2-fp16.txt" 2>&1 || status=1
cat "$out/optimize-gpt2-fp16.txt"
"$build/bench/bench_models" "$model4k" --device cuda --dtype fp16 --iters 50 --warmup 10 \
  --sizes 1x128,1x1024,8x1024,1x4096 --variants baseline,flash_attention,fused_mlp,align_linear,combined,combined_cuda_graphs \
  --json "$out/models-gpt2-fp16.json" || status=1
llama=/tmp/mlopt-llama-1b.pt
"$mlopt" make-model llama --preset 1b --dtype fp16 -o "$llama" >/dev/null
"$build/bench/bench_models" "$llama" --device cuda --dtype fp16 --iters 30 --warmup 5 \
  --sizes 2x2048 --variants baseline,flash_attention,fused_mlp,align_linear,combined,combined_cuda_graphs \
  --json "$out/models-llama1b-fp16.json" || status=1
# Profile: the ranking, a trace that must parse, the JSON result.
export MLOPT_CACHE_DIR=/tmp/mlopt-cache
"$mlopt" profile "$model" --input 'ids:int64[8,1024]' --device cuda --dtype fp16 --iters 10 --warmup 5 \
  --project "$out/gpt2-fp16.mlopt" \
  --json "$out/profile-gpt2-fp16-8x1024.json" --trace "$out/trace-gpt2-fp16-8x1024.json" \
  >"$out/profile.txt" 2>&1 || status=1
"$mlopt" profile "$model" --input 'ids:int64[1,128]' --device cuda --dtype fp16 --iters 10 --warmup 5 \
  --project "$out/gpt2-fp16.mlopt" \
  >>"$out/profile.txt" 2>&1 || status=1
cat "$out/profile.txt" | head -60
python3 - "$out" <<'PY' || status=1
import json, sys
out = sys.argv[1]
trace = json.load(open(f"{out}/trace-gpt2-fp16-8x1024.json"))
events = trace["traceEvents"]
kinds = {}
for e in events:
    kinds[e["ph"]] = kinds.get(e["ph"], 0) + 1
print("trace events by phase:", kinds)
p = json.load(open(f"{out}/profile-gpt2-fp16-8x1024.json"))
total = sum(c["time_us"] for c in p["categories"])
print(f"categories sum {total/1e3:.3f} ms; profiled mean {p['mean_iteration_us']/1e3:.3f}, median "
      f"{p['iteration_us']/1e3:.3f}; unprofiled median {p['unprofiled_iteration_us']/1e3:.3f} ms; "
      f"sum/unprofiled = {total/p['unprofiled_iteration_us']:.3f}; overhead {100*p['overhead']:.1f}%; "
      f"correlated {100*p['correlated_kernel_share']:.2f}%; dropped {p['dropped_records']}")
PY
# Reports of that GPU project: HTML here; PDF needs Qt, which this machine
# lacks (it is made from the copied-back project on a machine with Qt).
"$mlopt" report "$out/gpt2-fp16.mlopt" -o "$out/gpt2-fp16-report.html" || status=1
"$mlopt" report "$out/gpt2-fp16.mlopt" -o "$out/gpt2-fp16-report.pdf"
echo "pdf report exit status: $? (1 without Qt)"
# The device call returns a limited number of files: logs and traces go in
# one archive, results (JSON, the project, the report) stay loose.
(cd "$out" && tar czf logs.tgz --remove-files ./*.log ./*.txt trace-*.json profile-*.json 2>/dev/null)
exit $status

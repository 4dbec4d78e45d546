#!/bin/sh
# Runs the kernel benchmark suite (copy/triad roofline and FMA peak, RMSNorm, LayerNorm, softmax, RoPE,
# activations, attention; impl jlm/scalar/ort, 1 and 2 threads) and turns the JMH JSON into the markdown table of
# docs/benchmarks.md.
#
#   benchmarks/run-kernels.sh                 full suite (well over an hour with attention's scalar prefill;
#                                             "-- -e AttentionBench" leaves attention out: about 45 minutes),
#                                             then splices the table into the doc
#   benchmarks/run-kernels.sh --smoke         one short iteration of a few shapes; checks that everything runs,
#                                             writes the report next to the JSON, leaves the doc alone
#   benchmarks/run-kernels.sh -- -p threads=1 extra JMH options after "--" (the doc is still updated)
#
# Output: benchmarks/results/kernels-<UTC time>.{json,md} and charts-<UTC time>/*.svg (JLM_BENCH_OUT overrides
# the folder). Run it on a quiet machine: nothing else busy, fixed CPU frequency if you can.
set -eu
cd "$(dirname "$0")/.."
. bin/jdk-env
JAVA="$JAVA_HOME/bin/java"
JAR=benchmarks/target/benchmarks.jar

smoke=no
if [ "${1:-}" = "--smoke" ]; then
  smoke=yes
  shift
fi
if [ "${1:-}" = "--" ]; then
  shift
fi

if [ ! -f "$JAR" ]; then
  ./mvnw -B -q package -DskipTests
fi

out=${JLM_BENCH_OUT:-benchmarks/results}
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
json="$out/kernels-$stamp.json"

if [ "$smoke" = yes ]; then
  # One JMH run per class: each takes its own shapes.
  jsons=""
  for spec in Roofline:sizeMiB=64 RmsNorm:shape=128x2048 LayerNorm:shape=128x2048 Softmax:shape=1536x128 \
              Rope:shape=128x32x128 Activation:shape=128x1536 Attention:shape=32x8x128x64; do
    bench=${spec%%:*}
    param=${spec#*:}
    j="$out/kernels-$stamp-$bench.json"
    # a smoke run measures nothing, so it may share the machine with another JMH run
    "$JAVA" -Djmh.ignoreLock=true -jar "$JAR" "dev.jlm.bench.${bench}Bench" -f 1 -wi 0 -i 1 -r 100ms -p "$param" -p threads=1,2 \
      -rf json -rff "$j" "$@"
    jsons="$jsons $j"
  done
else
  "$JAVA" -jar "$JAR" 'dev.jlm.bench.(Roofline|FmaPeak|RmsNorm|LayerNorm|Softmax|Rope|Activation|Attention)Bench' \
    -rf json -rff "$json" "$@"
  jsons=$json
fi

cpu=$( (lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1) || true)
[ -n "$cpu" ] || cpu=$(uname -m)
machine="$cpu, $(nproc 2>/dev/null || echo '?') cores, $(uname -sr)"
md="$out/kernels-$stamp.md"
"$JAVA" -cp "$JAR" dev.jlm.bench.report.KernelReport $jsons --out "$md" --charts "$out/charts-$stamp" \
  --machine "$machine"
if [ "$smoke" = no ]; then
  "$JAVA" -cp "$JAR" dev.jlm.bench.report.KernelReport $jsons --splice docs/benchmarks.md --machine "$machine"
  echo "table written to $md and spliced into docs/benchmarks.md"
else
  echo "smoke report written to $md (docs/benchmarks.md left alone)"
fi

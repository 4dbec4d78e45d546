#!/bin/sh
# Load time and resident memory of a model, mapped (jlm) vs copied onto the heap, each in a fresh JVM, 3 runs.
# Usage: benchmarks/run-load-probe.sh [MODEL.onnx]   (default: the all-MiniLM-L6-v2 model the CLI uses)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bin/jdk-env"
[ -f "$root/benchmarks/target/benchmarks.jar" ] || (cd "$root" && ./mvnw -B -q package -DskipTests)
model=${1:-$("$root/jlm" inspect --json 2>/dev/null | sed -n 's/^  "model": "\(.*\)",$/\1/p')}
for run in 1 2 3; do
  for mode in mapped copied; do
    "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      $JLM_UNSAFE_FLAG -Xmx2g \
      -cp "$root/benchmarks/target/benchmarks.jar" dev.jlm.bench.io.ModelLoadProbe "$mode" "$model" 2>/dev/null
  done
done

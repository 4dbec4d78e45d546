#!/bin/sh
# The before/after runs of the 8-lane (AVX2) kernels: "base" is benchmarks.jar built from commit eb911e8 in a
# worktree at /tmp/basewt (git worktree add /tmp/basewt eb911e8; ./mvnw -B -q install -DskipTests there), "new" the
# jar built from commit 5697fbf (qm-gemm-*.json: from dfe40d3, with the prefill kernel). Every run with
# -XX:UseAVX=2 (8 float lanes, AVX2 instructions only).
. /work/main/bin/jdk-env
J=$JAVA_HOME/bin/java
cd /work/main
for round in 1 2; do
 for which in base new; do
  if [ $which = base ]; then JAR=/tmp/basewt/benchmarks/target/benchmarks.jar; else JAR=/work/main/benchmarks/target/benchmarks.jar; fi
  flock /work/wt/cpu.lock $J -jar $JAR 'AttentionBench.decode|RooflineBench.copy$' -p impl=jlm -p threads=1,2 \
    -p shape=32x8x2048x128,32x8x8192x128,32x8x8192x64,32x32x8192x64 \
    -f 1 -wi 3 -w 1s -i 4 -r 1s -jvmArgsAppend -XX:UseAVX=2 -rf json -rff /tmp/avx2runs/dec-$which-$round.json > /tmp/avx2runs/dec-$which-$round.log 2>&1
  flock /work/wt/cpu.lock $J -jar $JAR 'AttentionBench.prefill' -p impl=jlm -p threads=1 -p shape=32x8x512x128,32x32x512x64 \
    -f 1 -wi 3 -w 1s -i 4 -r 1s -jvmArgsAppend -XX:UseAVX=2 -rf json -rff /tmp/avx2runs/pre-$which-$round.json > /tmp/avx2runs/pre-$which-$round.log 2>&1
  flock /work/wt/cpu.lock $J -jar $JAR QMatMulBench -p impl=jlm -p m=1,4,128 -p threads=1,2 -p block=32 -jvmArgsPrepend "--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED" \
    -f 1 -wi 3 -w 1s -i 4 -r 1s -jvmArgsAppend -XX:UseAVX=2 -rf json -rff /tmp/avx2runs/qm-$which-$round.json > /tmp/avx2runs/qm-$which-$round.log 2>&1
 done
done
echo done > /tmp/avx2runs/DONE

package dev.jlm.simd.quant;

import dev.jlm.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Scalar reference of {@link QMatMul}: each block is decoded to floats once and used for every row of A. */
final class ScalarQMatMul implements QMatMul {
    static final ScalarQMatMul INSTANCE = new ScalarQMatMul();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private ScalarQMatMul() {
    }

    @Override
    public void multiply(Tensor a, QuantizedMatrix b, Tensor bias, Tensor y, int threads) {
        long m = QMatMul.checkShapes(a, b, bias, y, threads);
        int parts = QMatMul.usableThreads(a, b, bias, y, threads);
        MemorySegment as = a.segment();
        MemorySegment ys = y.segment();
        MemorySegment bs = bias == null ? null : bias.segment();
        long k = b.k();
        long n = b.n();
        int bsz = b.blockSize();
        NParallel.run(n, parts, 1, (from, to) -> {
            float[] w = new float[bsz];
            float[] acc = new float[(int) m];
            for (long r = from; r < to; r++) {
                java.util.Arrays.fill(acc, 0f);
                for (int blk = 0; blk < b.kBlocks(); blk++) {
                    long k0 = (long) blk * bsz;
                    int len = (int) Math.min(bsz, k - k0);
                    float s = b.scale(r, blk);
                    int zp = b.zeroPoint(r, blk);
                    for (int j = 0; j < len; j++) {
                        w[j] = (b.code(r, k0 + j) - zp) * s;
                    }
                    for (int i = 0; i < m; i++) {
                        long base = 4 * (i * k + k0);
                        float sum = 0f;
                        for (int j = 0; j < len; j++) {
                            sum += as.get(F32, base + 4L * j) * w[j];
                        }
                        acc[i] += sum;
                    }
                }
                float add = bs == null ? 0f : bs.get(F32, 4 * r);
                for (int i = 0; i < m; i++) {
                    ys.set(F32, 4 * (i * n + r), acc[i] + add);
                }
            }
        });
    }
}

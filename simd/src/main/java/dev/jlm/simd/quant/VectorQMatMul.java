package dev.jlm.simd.quant;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Vector API implementation of {@link QMatMul}.
 *
 * <p>Codes are read a chunk of 16 (or 8) bytes at a time and widened to float lanes; a 4-bit chunk gives one
 * vector of the low nibbles (even k) and one of the high nibbles (odd k). Instead of interleaving those, each
 * call first copies A once into a scratch array in the same order (per group of 2 x chunk values: the even k,
 * then the odd k), zero-padded to whole blocks. For M = 1 the zero point is taken out of the inner loop with
 * {@code sum((q - zp) s a) = s (sum(q a) - zp sum(a))}, the block sums of A computed once per call.
 *
 * <ul>
 *   <li>M = 1 (decode): {@link Gemv} (16 or 8 float lanes); layouts it does not read one row at a time
 *       ({@link #rowDot8}).</li>
 *   <li>M &gt;= {@link Gemm#MIN_M} (prefill): {@link Gemm}, register tiles over A^T.</li>
 *   <li>Other M &gt; 1: panels of weight rows are dequantized into a per-thread scratch (never the whole
 *       matrix) and dotted with every row of A ({@link DotGemm}).</li>
 * </ul>
 * On CPUs whose vectors hold fewer than 8 floats the scalar reference runs instead.
 */
final class VectorQMatMul implements QMatMul {
    static final VectorQMatMul INSTANCE = new VectorQMatMul();

    private static final VectorSpecies<Float> F = Simd.FLOAT;
    private static final VectorSpecies<Float> F8L = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private VectorQMatMul() {
    }

    @Override
    public void multiply(Tensor a, QuantizedMatrix b, Tensor bias, Tensor y, int threads) {
        long mm = QMatMul.checkShapes(a, b, bias, y, threads);
        threads = QMatMul.usableThreads(a, b, bias, y, threads);
        if (F.length() < 8) {
            ScalarQMatMul.INSTANCE.multiply(a, b, bias, y, threads);
            return;
        }
        if (mm > Integer.MAX_VALUE || (long) b.kBlocks() * b.blockSize() * mm > Integer.MAX_VALUE - 16) {
            ScalarQMatMul.INSTANCE.multiply(a, b, bias, y, threads);
            return;
        }
        int m = (int) mm;
        boolean wide = F.length() >= 16 && b.blobBytes() >= 16;
        int chunk = wide ? 16 : 8;
        int kp = b.kBlocks() * b.blockSize();
        float[] ap = arrange(a.segment(), m, (int) b.k(), kp, b.bits(), chunk);
        float[] asum = blockSums(ap, m, kp, b.blockSize());
        MemorySegment ys = y.segment();
        float[] bv = bias == null ? null : bias.toFloatArray();
        if (m == 1 && Gemv.supports(b)) {   // 16 or 8 lanes (fewer went to the scalar reference above)
            if (b.bits() == 4) {
                // after the block sums, which do not depend on the order inside a block
                Gemv.arrange4(a.segment(), (int) b.k(), ap, kp);
            }
            NParallel.run(b.n(), threads, Gemv.ROWS, (from, to) -> Gemv.rows(b, from, to, ap, asum, bv, ys));
        } else if (m == 1) {
            NParallel.run(b.n(), threads, 1, (from, to) -> {
                for (long r = from; r < to; r++) {
                    float v = rowDot8(b, r, ap, asum);
                    ys.set(F32, 4 * r, v + (bv == null ? 0f : bv[(int) r]));
                }
            });
        } else if (m >= Gemm.MIN_M && (long) Gemm.padded(m) * kp <= Integer.MAX_VALUE - 16) {
            if (!wide && DotGemm.nibbleOrder(b)) {
                // blocks of 16 in rows of whole groups: weight rows are decoded in the nibble order, so A too
                DotGemm.arrangeGroups(a.segment(), m, (int) b.k(), ap, kp);
            }
            float[] at = Gemm.transpose(ap, m, kp);
            NParallel.run(b.n(), threads, Gemm.ROWS, (from, to) -> Gemm.rows(b, from, to, at, m, kp, wide, bv, ys));
        } else {
            if (DotGemm.nibbleOrder(b)) {
                DotGemm.arrangeGroups(a.segment(), m, (int) b.k(), ap, kp);
            }
            NParallel.run(b.n(), threads, DotGemm.NR, (from, to) -> DotGemm.rows(b, from, to, ap, m, kp, wide, bv, ys));
        }
    }

    /**
     * A copy of A as [M, kp], zero-padded; for 4 bits each group of 2 x chunk values is split into its even
     * and odd positions, matching the low and high nibbles of a chunk of codes.
     */
    private static float[] arrange(MemorySegment as, int m, int k, int kp, int bits, int chunk) {
        float[] out = new float[m * kp];
        float[] row = new float[kp];
        int group = 2 * chunk;
        for (int i = 0; i < m; i++) {
            MemorySegment.copy(as, F32, 4L * i * k, row, 0, k);
            java.util.Arrays.fill(row, k, kp, 0f);
            int base = i * kp;
            if (bits == 8) {
                System.arraycopy(row, 0, out, base, kp);
                continue;
            }
            for (int g = 0; g < kp; g += group) {
                for (int j = 0; j < chunk; j++) {
                    out[base + g + j] = row[g + 2 * j];
                    out[base + g + chunk + j] = row[g + 2 * j + 1];
                }
            }
        }
        return out;
    }

    /** Sums of A per row and block (the order inside a block does not matter for a sum). */
    private static float[] blockSums(float[] ap, int m, int kp, int block) {
        int kb = kp / block;
        float[] out = new float[m * kb];
        for (int i = 0; i < m; i++) {
            for (int blk = 0; blk < kb; blk++) {
                int off = i * kp + blk * block;
                FloatVector acc = FloatVector.zero(F);
                for (int j = 0; j < block; j += F.length()) {
                    acc = acc.add(FloatVector.fromArray(F, ap, off + j));
                }
                out[i * kb + blk] = acc.reduceLanes(VectorOperators.ADD);
            }
        }
        return out;
    }

    private static float rowDot8(QuantizedMatrix b, long r, float[] ap, float[] asum) {
        MemorySegment d = b.data().segment();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long rowOff = b.rowBase(r);
        int shift = b.unitShift(r);
        FloatVector acc = FloatVector.zero(F8L);
        float corr = 0f;
        boolean four = b.bits() == 4;
        for (int blk = 0; blk < b.kBlocks(); blk++) {
            float s = b.scale(r, blk);
            int zp = b.zeroPoint(r, blk);
            long pb = (long) blk * blob;
            int kb = blk * block;
            FloatVector bacc = FloatVector.zero(F8L);
            if (four) {
                for (int c = 0; c < blob; c += 8) {
                    ByteVector v = ByteVector.fromMemorySegment(B8, d, rowOff + QuantizedMatrix.unit(pb + c, shift), ByteOrder.LITTLE_ENDIAN);
                    FloatVector lo = (FloatVector) v.and((byte) 0x0f).convertShape(VectorOperators.B2F, F8L, 0);
                    FloatVector hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0f)
                            .convertShape(VectorOperators.B2F, F8L, 0);
                    int ai = kb + 2 * c;
                    bacc = lo.fma(FloatVector.fromArray(F8L, ap, ai), bacc);
                    bacc = hi.fma(FloatVector.fromArray(F8L, ap, ai + 8), bacc);
                }
                corr += s * zp * asum[blk];
            } else {
                for (int c = 0; c < blob; c += 8) {
                    ByteVector v = ByteVector.fromMemorySegment(B8, d, rowOff + QuantizedMatrix.unit(pb + c, shift), ByteOrder.LITTLE_ENDIAN);
                    FloatVector q = (FloatVector) v.lanewise(VectorOperators.XOR, (byte) 0x80)
                            .convertShape(VectorOperators.B2F, F8L, 0);
                    bacc = q.fma(FloatVector.fromArray(F8L, ap, kb + c), bacc);
                }
                corr += s * (zp - 128) * asum[blk];
            }
            acc = bacc.fma(FloatVector.broadcast(bacc.species(), s), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD) - corr;
    }

    /** Dequantizes row {@code r} into {@code w[off .. off + kp)} in the arranged order of A. */
    static void decodeRow(QuantizedMatrix b, long r, float[] w, int off, boolean wide) {
        decodeBlocks(b, r, 0, b.kBlocks(), w, off, wide);
    }

    /** Dequantizes blocks {@code [blk0, blk1)} of row {@code r} into {@code w[off ..]} in the arranged order of A. */
    static void decodeBlocks(QuantizedMatrix b, long r, int blk0, int blk1, float[] w, int off, boolean wide) {
        if (wide) {
            Gemm.decode(b, r, blk0, blk1, w, off);
            return;
        }
        MemorySegment d = b.data().segment();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long rowOff = b.rowBase(r);
        int shift = b.unitShift(r);
        boolean four = b.bits() == 4;
        for (int blk = blk0; blk < blk1; blk++) {
            float s = b.scale(r, blk);
            float zp = four ? b.zeroPoint(r, blk) : b.zeroPoint(r, blk) - 128;
            long pb = (long) blk * blob;
            int dst = off + (blk - blk0) * block;
            for (int c = 0; c < blob; c += 8) {
                ByteVector v = ByteVector.fromMemorySegment(B8, d, rowOff + QuantizedMatrix.unit(pb + c, shift), ByteOrder.LITTLE_ENDIAN);
                if (four) {
                    ((FloatVector) v.and((byte) 0x0f).convertShape(VectorOperators.B2F, F8L, 0))
                            .sub(zp).mul(s).intoArray(w, dst + 2 * c);
                    ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0f).convertShape(VectorOperators.B2F, F8L, 0))
                            .sub(zp).mul(s).intoArray(w, dst + 2 * c + 8);
                } else {
                    ((FloatVector) v.lanewise(VectorOperators.XOR, (byte) 0x80).convertShape(VectorOperators.B2F, F8L, 0))
                            .sub(zp).mul(s).intoArray(w, dst + c);
                }
            }
        }
    }
}

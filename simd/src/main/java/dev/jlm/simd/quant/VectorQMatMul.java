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
 * then the odd k), zero-padded to whole blocks. The zero point is taken out of the inner loop with
 * {@code sum((q - zp) s a) = s (sum(q a) - zp sum(a))}, the block sums of A computed once per call.
 *
 * <ul>
 *   <li>M = 1 (decode): one pass over each row's bytes, fused dequantization, one reduction per row.</li>
 *   <li>M &gt; 1 (prefill): tiles of 16 rows are dequantized into a per-thread scratch (never the whole
 *       matrix) and multiplied with every row of A, four weight rows per A load, in K panels that stay in cache.</li>
 * </ul>
 * On CPUs whose vectors hold fewer than 8 floats the scalar reference runs instead.
 */
final class VectorQMatMul implements QMatMul {
    static final VectorQMatMul INSTANCE = new VectorQMatMul();

    private static final VectorSpecies<Float> F = Simd.FLOAT;
    private static final VectorSpecies<Float> F16L = FloatVector.SPECIES_512;
    private static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Float> F8L = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int TILE_N = 16;
    private static final int PANEL_K = 1024;

    private VectorQMatMul() {
    }

    @Override
    public void multiply(Tensor a, QuantizedMatrix b, Tensor bias, Tensor y, int threads) {
        long mm = QMatMul.checkShapes(a, b, bias, y, threads);
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
        if (m == 1) {
            NParallel.run(b.n(), threads, 1, (from, to) -> {
                for (long r = from; r < to; r++) {
                    float v = wide ? rowDot16(b, r, ap, asum) : rowDot8(b, r, ap, asum);
                    ys.set(F32, 4 * r, v + (bv == null ? 0f : bv[(int) r]));
                }
            });
        } else {
            NParallel.run(b.n(), threads, TILE_N, (from, to) -> gemm(b, from, to, ap, m, kp, wide, bv, ys));
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

    private static float rowDot16(QuantizedMatrix b, long r, float[] ap, float[] asum) {
        MemorySegment d = b.data().segment();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long rowOff = r * b.kBlocks() * blob;
        FloatVector acc = FloatVector.zero(F16L);
        float corr = 0f;
        boolean four = b.bits() == 4;
        for (int blk = 0; blk < b.kBlocks(); blk++) {
            float s = b.scale(r, blk);
            int zp = b.zeroPoint(r, blk);
            long off = rowOff + (long) blk * blob;
            int kb = blk * block;
            FloatVector bacc = FloatVector.zero(F16L);
            if (four) {
                for (int c = 0; c < blob; c += 16) {
                    ByteVector v = ByteVector.fromMemorySegment(B16, d, off + c, ByteOrder.LITTLE_ENDIAN);
                    FloatVector lo = (FloatVector) v.and((byte) 0x0f).convertShape(VectorOperators.B2F, F16L, 0);
                    FloatVector hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0f)
                            .convertShape(VectorOperators.B2F, F16L, 0);
                    int ai = kb + 2 * c;
                    bacc = lo.fma(FloatVector.fromArray(F16L, ap, ai), bacc);
                    bacc = hi.fma(FloatVector.fromArray(F16L, ap, ai + 16), bacc);
                }
                corr += s * zp * asum[blk];
            } else {
                // code ^ 0x80 read as a signed byte is code - 128, so the zero point becomes zp - 128.
                for (int c = 0; c < blob; c += 16) {
                    ByteVector v = ByteVector.fromMemorySegment(B16, d, off + c, ByteOrder.LITTLE_ENDIAN);
                    FloatVector q = (FloatVector) v.lanewise(VectorOperators.XOR, (byte) 0x80)
                            .convertShape(VectorOperators.B2F, F16L, 0);
                    bacc = q.fma(FloatVector.fromArray(F16L, ap, kb + c), bacc);
                }
                corr += s * (zp - 128) * asum[blk];
            }
            acc = bacc.fma(FloatVector.broadcast(bacc.species(), s), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD) - corr;
    }

    private static float rowDot8(QuantizedMatrix b, long r, float[] ap, float[] asum) {
        MemorySegment d = b.data().segment();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long rowOff = r * b.kBlocks() * blob;
        FloatVector acc = FloatVector.zero(F8L);
        float corr = 0f;
        boolean four = b.bits() == 4;
        for (int blk = 0; blk < b.kBlocks(); blk++) {
            float s = b.scale(r, blk);
            int zp = b.zeroPoint(r, blk);
            long off = rowOff + (long) blk * blob;
            int kb = blk * block;
            FloatVector bacc = FloatVector.zero(F8L);
            if (four) {
                for (int c = 0; c < blob; c += 8) {
                    ByteVector v = ByteVector.fromMemorySegment(B8, d, off + c, ByteOrder.LITTLE_ENDIAN);
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
                    ByteVector v = ByteVector.fromMemorySegment(B8, d, off + c, ByteOrder.LITTLE_ENDIAN);
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
    private static void decodeRow(QuantizedMatrix b, long r, float[] w, int off, boolean wide) {
        MemorySegment d = b.data().segment();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long rowOff = r * b.kBlocks() * blob;
        boolean four = b.bits() == 4;
        for (int blk = 0; blk < b.kBlocks(); blk++) {
            float s = b.scale(r, blk);
            float zp = four ? b.zeroPoint(r, blk) : b.zeroPoint(r, blk) - 128;
            long src = rowOff + (long) blk * blob;
            int dst = off + blk * block;
            if (wide) {
                for (int c = 0; c < blob; c += 16) {
                    ByteVector v = ByteVector.fromMemorySegment(B16, d, src + c, ByteOrder.LITTLE_ENDIAN);
                    if (four) {
                        ((FloatVector) v.and((byte) 0x0f).convertShape(VectorOperators.B2F, F16L, 0))
                                .sub(zp).mul(s).intoArray(w, dst + 2 * c);
                        ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0f).convertShape(VectorOperators.B2F, F16L, 0))
                                .sub(zp).mul(s).intoArray(w, dst + 2 * c + 16);
                    } else {
                        ((FloatVector) v.lanewise(VectorOperators.XOR, (byte) 0x80).convertShape(VectorOperators.B2F, F16L, 0))
                                .sub(zp).mul(s).intoArray(w, dst + c);
                    }
                }
            } else {
                for (int c = 0; c < blob; c += 8) {
                    ByteVector v = ByteVector.fromMemorySegment(B8, d, src + c, ByteOrder.LITTLE_ENDIAN);
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

    private static void gemm(QuantizedMatrix b, long from, long to, float[] ap, int m, int kp, boolean wide,
                             float[] bias, MemorySegment ys) {
        float[] w = new float[TILE_N * kp];
        float[] acc = new float[m * TILE_N];
        long n = b.n();
        int lanes = F.length();
        for (long r0 = from; r0 < to; r0 += TILE_N) {
            int rows = (int) Math.min(TILE_N, to - r0);
            for (int t = 0; t < rows; t++) {
                decodeRow(b, r0 + t, w, t * kp, wide);
            }
            java.util.Arrays.fill(acc, 0f);
            for (int k0 = 0; k0 < kp; k0 += PANEL_K) {
                int k1 = Math.min(kp, k0 + PANEL_K);
                for (int i = 0; i < m; i++) {
                    int abase = i * kp;
                    int t = 0;
                    for (; t + 4 <= rows; t += 4) {
                        int w0 = t * kp;
                        int w1 = w0 + kp;
                        int w2 = w1 + kp;
                        int w3 = w2 + kp;
                        FloatVector c0 = FloatVector.zero(F);
                        FloatVector c1 = FloatVector.zero(F);
                        FloatVector c2 = FloatVector.zero(F);
                        FloatVector c3 = FloatVector.zero(F);
                        for (int j = k0; j < k1; j += lanes) {
                            FloatVector av = FloatVector.fromArray(F, ap, abase + j);
                            c0 = FloatVector.fromArray(F, w, w0 + j).fma(av, c0);
                            c1 = FloatVector.fromArray(F, w, w1 + j).fma(av, c1);
                            c2 = FloatVector.fromArray(F, w, w2 + j).fma(av, c2);
                            c3 = FloatVector.fromArray(F, w, w3 + j).fma(av, c3);
                        }
                        int o = i * TILE_N + t;
                        acc[o] += c0.reduceLanes(VectorOperators.ADD);
                        acc[o + 1] += c1.reduceLanes(VectorOperators.ADD);
                        acc[o + 2] += c2.reduceLanes(VectorOperators.ADD);
                        acc[o + 3] += c3.reduceLanes(VectorOperators.ADD);
                    }
                    for (; t < rows; t++) {
                        int w0 = t * kp;
                        FloatVector c0 = FloatVector.zero(F);
                        for (int j = k0; j < k1; j += lanes) {
                            c0 = FloatVector.fromArray(F, w, w0 + j).fma(FloatVector.fromArray(F, ap, abase + j), c0);
                        }
                        acc[i * TILE_N + t] += c0.reduceLanes(VectorOperators.ADD);
                    }
                }
            }
            for (int i = 0; i < m; i++) {
                for (int t = 0; t < rows; t++) {
                    long r = r0 + t;
                    ys.set(F32, 4 * (i * n + r), acc[i * TILE_N + t] + (bias == null ? 0f : bias[(int) r]));
                }
            }
        }
    }
}

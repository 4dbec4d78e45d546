package dev.jlm.simd.quant;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The quantization inner loop: vector against scalar, and both against a double-precision definition. */
class BlockKernelTest {
    /** Code by definition: float division and addition as ONNX Runtime computes them, then ties to even. */
    private static int definition(float x, float s, int zp, int max) {
        if (s == 0f) {
            return zp;
        }
        float t = x / s + zp;
        return (int) Math.max(0, Math.min(max, Math.rint(t)));
    }

    @Test
    void codesAndErrorsMatchTheDefinitionForOddLengths() {
        Random rnd = new Random(5);
        int[] lens = {1, 3, 15, 16, 17, 31, 64, 97, 128};
        for (BlockKernel kernel : new BlockKernel[]{BlockKernel.scalar(), BlockKernel.vector()}) {
            for (int len : lens) {
                for (int bits : new int[]{4, 8}) {
                    int max = (1 << bits) - 1;
                    float[] x = new float[len + 7];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) rnd.nextGaussian();
                    }
                    float s = (float) (0.05 + rnd.nextDouble() * 0.4) * (rnd.nextBoolean() ? 1 : -1);
                    int zp = rnd.nextInt(max + 1);
                    byte[] codes = new byte[len + 9];
                    java.util.Arrays.fill(codes, (byte) 0x55);
                    double err = kernel.quantize(x, 3, len, s, zp, max, codes, 2);
                    double ref = 0;
                    for (int i = 0; i < len; i++) {
                        int q = definition(x[3 + i], s, zp, max);
                        assertEquals(q, codes[2 + i] & 0xff, kernel + " len " + len + " i " + i);
                        double d = x[3 + i] - (q - zp) * (double) s;
                        ref += d * d;
                    }
                    assertEquals(0x55, codes[1], "nothing written before");
                    assertEquals(0x55, codes[2 + len], "nothing written after");
                    assertEquals(ref, err, 1e-5 * ref + 1e-12, kernel + " len " + len);
                    assertEquals(err, kernel.quantize(x, 3, len, s, zp, max, null, 0), 1e-9 * err + 1e-15);
                }
            }
        }
    }

    @Test
    void zeroScaleMapsEverythingToTheZeroPoint() {
        float[] x = {0.5f, -1f, 2f, 0f, 3f};
        for (BlockKernel kernel : new BlockKernel[]{BlockKernel.scalar(), BlockKernel.vector()}) {
            byte[] codes = new byte[5];
            double err = kernel.quantize(x, 0, 5, 0f, 8, 15, codes, 0);
            assertArrayEquals(new byte[]{8, 8, 8, 8, 8}, codes);
            assertEquals(0.25 + 1 + 4 + 0 + 9, err, 1e-12);
            assertEquals(0f, kernel.refitScale(x, 0, 5, 0f, 8, 15));
        }
    }

    @Test
    void refitScaleIsTheLeastSquaresScaleAndNeverWorse() {
        Random rnd = new Random(8);
        for (BlockKernel kernel : new BlockKernel[]{BlockKernel.scalar(), BlockKernel.vector()}) {
            for (int trial = 0; trial < 50; trial++) {
                int len = 1 + rnd.nextInt(130);
                float[] x = new float[len];
                for (int i = 0; i < len; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                float s = 0.3f;
                int zp = 8;
                float refit = kernel.refitScale(x, 0, len, s, zp, 15);
                double num = 0;
                double den = 0;
                for (int i = 0; i < len; i++) {
                    int d = definition(x[i], s, zp, 15) - zp;
                    num += x[i] * (double) d;
                    den += (double) d * d;
                }
                assertEquals(den == 0 ? 0 : num / den, refit, 1e-5 * Math.abs(num / den) + 1e-9);
                // With the same codes, the least-squares scale cannot have more error.
                double before = 0;
                double after = 0;
                for (int i = 0; i < len; i++) {
                    int d = definition(x[i], s, zp, 15) - zp;
                    before += Math.pow(x[i] - d * s, 2);
                    after += Math.pow(x[i] - d * (double) refit, 2);
                }
                assertTrue(after <= before + 1e-9, "refit " + after + " > " + before);
            }
        }
    }
}

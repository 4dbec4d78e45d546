package dev.jlm.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.quant.QuantizedMatrix;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Block quantizers on random weights (Gaussian, and heavy-tailed with outliers), odd K, both layouts. Oracles:
 * the error reported equals the error recomputed in double from what is stored (relative 1e-6); MSE never has
 * more error than RTN; RTN errors stay within one scale step per element and half a step away from the clamped end.
 */
class BlockQuantizerTest {
    /** W[K, N] with Gaussian entries, and every 97th entry an outlier 8 times larger when {@code heavy}. */
    static Tensor weights(Random rnd, long k, long n, boolean heavy) {
        Tensor t = Tensor.allocate(DType.F32, k, n);
        for (long i = 0; i < k; i++) {
            for (long j = 0; j < n; j++) {
                double v = rnd.nextGaussian() * 0.05;
                if (heavy && rnd.nextInt(97) == 0) {
                    v *= 8;
                }
                t.setDouble(v, i, j);
            }
        }
        return t;
    }

    /** ||W - dequant(Q)||^2 in double, W given as [K, N]. */
    static double squaredError(Tensor w, QuantizedMatrix q) {
        double e = 0;
        for (long kk = 0; kk < q.k(); kk++) {
            for (long nn = 0; nn < q.n(); nn++) {
                double d = w.getDouble(kk, nn) - (double) q.dequantize(nn, kk);
                e += d * d;
            }
        }
        return e;
    }

    @Test
    void reportedErrorIsTheErrorOfWhatIsStored() {
        Random rnd = new Random(1);
        for (int bits : new int[]{4, 8}) {
            for (boolean sym : new boolean[]{true, false}) {
                for (Method m : new Method[]{Method.RTN, Method.MSE}) {
                    try (Tensor w = weights(rnd, 100, 7, true);
                         BlockQuantizer.Result r = BlockQuantizer.quantize(w, false, new QuantConfig(bits, 32, sym, m, 0.15), DType.F32, "w")) {
                        double e = squaredError(w, r.matrix());
                        assertEquals(e, r.squaredError(), 1e-6 * e, bits + "-bit " + (sym ? "sym " : "asym ") + m);
                        for (long nn = 0; nn < 7; nn++) {
                            for (long kk = 100; kk < 128; kk++) {
                                assertEquals(r.matrix().zeroPoint(nn, 3), r.matrix().code(nn, kk), "padding holds the zero point");
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void mseSearchNeverHasMoreErrorThanRoundToNearest() {
        Random rnd = new Random(2);
        for (int bits : new int[]{4, 8}) {
            for (boolean sym : new boolean[]{true, false}) {
                for (int block : new int[]{16, 32, 64, 128}) {
                    for (boolean heavy : new boolean[]{false, true}) {
                        long k = 1 + rnd.nextInt(300);
                        try (Tensor w = weights(rnd, k, 13, heavy);
                             BlockQuantizer.Result rtn = BlockQuantizer.quantize(w, false, new QuantConfig(bits, block, sym, Method.RTN, 0), DType.F32, "w");
                             BlockQuantizer.Result mse = BlockQuantizer.quantize(w, false, new QuantConfig(bits, block, sym, Method.MSE, 0), DType.F32, "w")) {
                            String what = bits + "-bit block " + block + " K=" + k + (sym ? " sym" : " asym") + (heavy ? " heavy" : "");
                            assertTrue(mse.squaredError() <= rtn.squaredError() * (1 + 1e-6), what + ": " + mse.squaredError() + " > " + rtn.squaredError());
                            if (bits == 4 && heavy && k >= 64) {
                                assertTrue(mse.squaredError() < 0.99 * rtn.squaredError(), what + ": the search should pay off on outliers: "
                                        + mse.squaredError() + " vs " + rtn.squaredError());
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void roundToNearestStaysWithinOneStep() {
        Random rnd = new Random(3);
        for (int bits : new int[]{4, 8}) {
            for (boolean sym : new boolean[]{true, false}) {
                try (Tensor w = weights(rnd, 77, 9, true);
                     BlockQuantizer.Result r = BlockQuantizer.quantize(w, false, new QuantConfig(bits, 16, sym, Method.RTN, 0), DType.F32, "w")) {
                    QuantizedMatrix q = r.matrix();
                    for (long kk = 0; kk < 77; kk++) {
                        for (long nn = 0; nn < 9; nn++) {
                            int blk = (int) (kk / 16);
                            double step = Math.abs(q.scale(nn, blk));
                            double err = Math.abs(w.getDouble(kk, nn) - q.dequantize(nn, kk));
                            int code = q.code(nn, kk);
                            boolean clampedEnd = code == 0 || code == q.maxCode();
                            assertTrue(err <= step * (clampedEnd ? 1.0 : 0.5) * (1 + 1e-5) + 1e-12,
                                    bits + "-bit " + (sym ? "sym" : "asym") + " [" + kk + ", " + nn + "] error " + err + " step " + step);
                        }
                    }
                    // Typical 4-bit/8-bit relative errors of Gaussian blocks of 16 with outliers.
                    assertTrue(r.relativeError() < (bits == 4 ? 0.2 : 0.012), bits + "-bit relative error " + r.relativeError());
                    assertTrue(r.relativeError() > (bits == 4 ? 0.02 : 0.0005), "a suspiciously small error " + r.relativeError());
                }
            }
        }
    }

    @Test
    void bothLayoutsGiveTheSameMatrix() {
        Random rnd = new Random(4);
        try (Tensor w = weights(rnd, 70, 5, false); Tensor wt = Tensor.allocate(DType.F32, 5, 70)) {
            for (long kk = 0; kk < 70; kk++) {
                for (long nn = 0; nn < 5; nn++) {
                    wt.setDouble(w.getDouble(kk, nn), nn, kk);
                }
            }
            try (BlockQuantizer.Result a = BlockQuantizer.quantize(w, false, QuantConfig.w4(), DType.F32, "w");
                 BlockQuantizer.Result b = BlockQuantizer.quantize(wt, true, QuantConfig.w4(), DType.F32, "wt")) {
                assertTrue(a.matrix().data().segment().mismatch(b.matrix().data().segment()) < 0);
                assertTrue(a.matrix().scales().segment().mismatch(b.matrix().scales().segment()) < 0);
                assertTrue(a.matrix().zeroPoints().segment().mismatch(b.matrix().zeroPoints().segment()) < 0);
            }
        }
    }

    @Test
    void autoBlockTakesTheLargestBlockWithinTheBound() {
        Random rnd = new Random(5);
        // Rows that are constant along K quantize without error at any block: auto takes 128.
        try (Tensor w = Tensor.allocate(DType.F32, 256, 6)) {
            for (long kk = 0; kk < 256; kk++) {
                for (long nn = 0; nn < 6; nn++) {
                    w.setDouble(0.01 * (nn + 1), kk, nn);
                }
            }
            try (BlockQuantizer.Result r = BlockQuantizer.quantize(w, false, QuantConfig.w4().withBlockSize(QuantConfig.AUTO_BLOCK), DType.F32, "w")) {
                assertEquals(128, r.matrix().blockSize());
            }
        }
        try (Tensor w = weights(rnd, 512, 16, true)) {
            QuantConfig auto = QuantConfig.w4().withBlockSize(QuantConfig.AUTO_BLOCK);
            try (BlockQuantizer.Result r = BlockQuantizer.quantize(w, false, auto, DType.F32, "w");
                 BlockQuantizer.Result b16 = BlockQuantizer.quantize(w, false, QuantConfig.w4().withBlockSize(16), DType.F32, "w")) {
                int chosen = r.matrix().blockSize();
                assertTrue(r.relativeError() <= b16.relativeError() * (1 + auto.autoSlack()) + 1e-12);
                if (chosen < 128) {
                    try (BlockQuantizer.Result larger = BlockQuantizer.quantize(w, false, QuantConfig.w4().withBlockSize(chosen * 2), DType.F32, "w")) {
                        assertTrue(larger.relativeError() > b16.relativeError() * (1 + auto.autoSlack()), "a larger block was within the bound");
                    }
                }
            }
        }
    }

    @Test
    void halfPrecisionWeightsKeepHalfPrecisionScales() {
        Random rnd = new Random(6);
        try (Tensor w32 = weights(rnd, 64, 8, false); Tensor w16 = Tensor.allocate(DType.F16, 64, 8)) {
            for (long kk = 0; kk < 64; kk++) {
                for (long nn = 0; nn < 8; nn++) {
                    w16.setDouble(w32.getDouble(kk, nn), kk, nn);
                }
            }
            try (BlockQuantizer.Result r = BlockQuantizer.quantize(w16, false, QuantConfig.w4(), DType.F16, "w16")) {
                assertEquals(DType.F16, r.matrix().scaleType());
                double e = squaredError(w16, r.matrix());
                assertEquals(e, r.squaredError(), 1e-6 * e);
            }
        }
    }

    @Test
    void nonFiniteWeightsAreRefusedByName() {
        try (Tensor w = Tensor.allocate(DType.F32, 32, 4)) {
            w.setDouble(Double.NaN, 5, 2);
            JlmException e = assertThrows(JlmException.InvalidArgument.class,
                    () -> BlockQuantizer.quantize(w, false, QuantConfig.w4(), DType.F32, "layer.3.weight"));
            assertTrue(e.getMessage().contains("layer.3.weight") && e.getMessage().contains("[5, 2]"), e.getMessage());
            w.setDouble(Double.POSITIVE_INFINITY, 5, 2);
            assertThrows(JlmException.InvalidArgument.class, () -> BlockQuantizer.quantize(w, false, QuantConfig.w8(), DType.F32, "x"));
        }
    }
}

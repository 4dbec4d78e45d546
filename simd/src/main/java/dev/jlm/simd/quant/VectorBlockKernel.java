package dev.jlm.simd.quant;

import dev.jlm.core.Simd;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Vector API implementation of {@link BlockKernel}; the tail runs through the scalar reference. */
final class VectorBlockKernel implements BlockKernel {
    static final VectorBlockKernel INSTANCE = new VectorBlockKernel();
    private static final VectorSpecies<Float> S = Simd.FLOAT;
    /** Adding and subtracting 1.5 * 2^23 rounds a float in [0, 2^22) to the nearest integer, ties to even, like rint. */
    private static final float MAGIC = 12582912f;

    private VectorBlockKernel() {
    }

    @Override
    public double quantize(float[] x, int off, int len, float scale, int zp, int maxCode, byte[] codes, int codesOff) {
        if (scale == 0f) {
            return ScalarBlockKernel.INSTANCE.quantize(x, off, len, scale, zp, maxCode, codes, codesOff);
        }
        int bound = S.loopBound(len);
        FloatVector acc = FloatVector.zero(S);
        float fzp = zp;
        float fmax = maxCode;
        int i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, off + i);
            FloatVector q = v.div(scale).add(fzp).max(0f).min(fmax).add(MAGIC).sub(MAGIC);
            FloatVector d = v.sub(q.sub(fzp).mul(scale));
            acc = d.fma(d, acc);
            if (codes != null) {
                for (int l = 0; l < S.length(); l++) {
                    codes[codesOff + i + l] = (byte) (int) q.lane(l);
                }
            }
        }
        double err = ordered(acc);
        if (i < len) {
            err += ScalarBlockKernel.INSTANCE.quantize(x, off + i, len - i, scale, zp, maxCode, codes, codes == null ? 0 : codesOff + i);
        }
        return err;
    }

    /**
     * The lanes summed in lane order, in double. {@code reduceLanes} adds in a tree once compiled but in lane order
     * before, and the quantizer's choices must not depend on when the JIT compiled this method.
     */
    private static double ordered(FloatVector v) {
        float[] lanes = new float[S.length()];
        v.intoArray(lanes, 0);
        double sum = 0;
        for (float f : lanes) {
            sum += f;
        }
        return sum;
    }

    @Override
    public float refitScale(float[] x, int off, int len, float scale, int zp, int maxCode) {
        if (scale == 0f) {
            return 0f;
        }
        int bound = S.loopBound(len);
        FloatVector num = FloatVector.zero(S);
        FloatVector den = FloatVector.zero(S);
        float fzp = zp;
        float fmax = maxCode;
        int i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, off + i);
            FloatVector d = v.div(scale).add(fzp).max(0f).min(fmax).add(MAGIC).sub(MAGIC).sub(fzp);
            num = v.fma(d, num);
            den = d.fma(d, den);
        }
        double n = ordered(num);
        double dd = ordered(den);
        for (; i < len; i++) {
            int d = ScalarBlockKernel.code(x[off + i], scale, zp, maxCode) - zp;
            n += (double) x[off + i] * d;
            dd += (double) d * d;
        }
        return dd == 0 ? 0f : (float) (n / dd);
    }
}

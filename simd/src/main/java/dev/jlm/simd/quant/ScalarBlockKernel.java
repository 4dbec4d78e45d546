package dev.jlm.simd.quant;

/** Scalar reference of {@link BlockKernel}. */
final class ScalarBlockKernel implements BlockKernel {
    static final ScalarBlockKernel INSTANCE = new ScalarBlockKernel();

    private ScalarBlockKernel() {
    }

    static int code(float x, float scale, int zp, int maxCode) {
        if (scale == 0f) {
            return zp;
        }
        float t = x / scale + zp;
        // Clamping before rounding is the same as after: the bounds are integers.
        t = Math.max(0f, Math.min(maxCode, t));
        return (int) Math.rint(t);
    }

    @Override
    public double quantize(float[] x, int off, int len, float scale, int zp, int maxCode, byte[] codes, int codesOff) {
        double err = 0;
        for (int i = 0; i < len; i++) {
            int q = code(x[off + i], scale, zp, maxCode);
            float d = x[off + i] - (q - zp) * scale;
            err += (double) d * d;
            if (codes != null) {
                codes[codesOff + i] = (byte) q;
            }
        }
        return err;
    }

    @Override
    public float refitScale(float[] x, int off, int len, float scale, int zp, int maxCode) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < len; i++) {
            int d = code(x[off + i], scale, zp, maxCode) - zp;
            num += (double) x[off + i] * d;
            den += (double) d * d;
        }
        return den == 0 ? 0f : (float) (num / den);
    }
}

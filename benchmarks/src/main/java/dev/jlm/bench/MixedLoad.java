package dev.jlm.bench;

import dev.jlm.bench.lasso.LassoBench;
import dev.jlm.bench.quant.QMatMulBench;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Every kernel, over many shapes, dtypes and thread counts, called in a random order as a server mixing them would,
 * then each configuration's best time and the bytes one call allocates. The kernels that should allocate nothing
 * per element (softmax, norms, RoPE, activations) are flagged when a call allocates more than a byte per element:
 * a vector boxed in its loop (4 bytes per element and more: a call the JIT did not inline, a merge it did not keep
 * in registers) or a loop still running in the JIT's first tiers. Exit status 1 when any is flagged.
 *
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp benchmarks/target/benchmarks.jar dev.jlm.bench.MixedLoad [rounds] [seed]</pre>
 */
public final class MixedLoad {
    private interface Call {
        void run() throws Exception;
    }

    /** One configuration: its name, the call, and its elements (0: not checked for allocation). */
    private record Config(String name, Call call, long elements) {
    }

    private MixedLoad() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        long seed = args.length > 1 ? Long.parseLong(args[1]) : System.nanoTime();
        List<Config> configs = configs();
        System.out.printf("%d configurations, %d rounds, seed %d%n", configs.size(), rounds, seed);
        Random random = new Random(seed);
        double[][] micros = new double[configs.size()][rounds];
        for (int round = 0; round < rounds; round++) {
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < configs.size(); i++) {
                order.add(i);
            }
            Collections.shuffle(order, random);
            for (int i : order) {
                long best = Long.MAX_VALUE;
                for (int k = 0; k < 5; k++) {
                    long t0 = System.nanoTime();
                    configs.get(i).call().run();
                    best = Math.min(best, System.nanoTime() - t0);
                }
                micros[i][round] = best / 1e3;
            }
        }
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int flagged = 0;
        for (int i = 0; i < configs.size(); i++) {
            Config c = configs.get(i);
            long before = threads.getCurrentThreadAllocatedBytes();
            c.call().run();
            long bytes = threads.getCurrentThreadAllocatedBytes() - before;
            double best = Double.MAX_VALUE;
            for (int r = rounds * 3 / 4; r < rounds; r++) {
                best = Math.min(best, micros[i][r]);
            }
            boolean flag = c.elements() > 0 && bytes > c.elements();
            flagged += flag ? 1 : 0;
            System.out.printf("%-34s %10.1f us %12d B/call%s%n", c.name(), best, bytes, flag ? "   <- allocates" : "");
        }
        System.out.println(flagged == 0 ? "no kernel allocates per element" : flagged + " configurations allocate");
        System.exit(flagged == 0 ? 0 : 1);
    }

    private static long elements(String shape) {
        long e = 1;
        for (long d : Bench.shape(shape)) {
            e *= d;
        }
        return e;
    }

    private static List<Config> configs() throws Exception {
        List<Config> cs = new ArrayList<>();
        for (int t : new int[] {1, 2}) {
            for (String sh : new String[] {"32x2048", "1536x128", "512x512", "1x32000", "100x77"}) {
                for (String dt : new String[] {"F32", "F16", "BF16"}) {
                    SoftmaxBench b = new SoftmaxBench();
                    b.impl = "jlm";
                    b.threads = t;
                    b.shape = sh;
                    b.dtype = dt;
                    b.setup();
                    cs.add(new Config("softmax " + sh + " " + dt + " t" + t, b::softmax, elements(sh)));
                }
            }
            for (String sh : new String[] {"128x2048", "1x4096", "64x384", "33x1000"}) {
                RmsNormBench r = new RmsNormBench();
                r.impl = "jlm";
                r.threads = t;
                r.shape = sh;
                r.setup(null);
                cs.add(new Config("rmsNorm " + sh + " t" + t, r::rmsNorm, elements(sh)));
                cs.add(new Config("rmsNormResidual " + sh + " t" + t, r::rmsNormResidual, elements(sh)));
                LayerNormBench l = new LayerNormBench();
                l.impl = "jlm";
                l.threads = t;
                l.shape = sh;
                l.setup(null);
                cs.add(new Config("layerNorm " + sh + " t" + t, l::layerNorm, elements(sh)));
                cs.add(new Config("layerNormResidual " + sh + " t" + t, l::layerNormResidual, elements(sh)));
            }
            for (String sh : new String[] {"128x32x128", "1x32x128", "128x12x64"}) {
                for (String layout : new String[] {"half", "interleaved"}) {
                    RopeBench b = new RopeBench();
                    b.impl = "jlm";
                    b.threads = t;
                    b.shape = sh;
                    b.layout = layout;
                    b.setup();
                    cs.add(new Config("rope " + sh + " " + layout + " t" + t, b::rope, elements(sh)));
                }
            }
            for (String op : new String[] {"silu", "geluTanh", "geluErf", "swiglu"}) {
                for (String dt : new String[] {"F32", "F16", "BF16"}) {
                    ActivationBench b = new ActivationBench();
                    b.impl = "jlm";
                    b.threads = t;
                    b.op = op;
                    b.shape = "128x1536";
                    b.dtype = dt;
                    b.setup();
                    cs.add(new Config(op + " 128x1536 " + dt + " t" + t, b::activation, elements("128x1536")));
                }
            }
            // attention, the 4-bit matmul and the Lasso paths use heap scratch arrays by design: timed, not checked
            AttentionBench attention = new AttentionBench();
            for (String sh : new String[] {"32x8x128x64", "32x32x128x128"}) {
                AttentionBench.Prefill p = new AttentionBench.Prefill();
                p.impl = "jlm";
                p.threads = t;
                p.shape = sh;
                p.setup();
                cs.add(new Config("prefill " + sh + " t" + t, () -> attention.prefill(p), 0));
            }
            for (String sh : new String[] {"32x8x512x64", "32x32x2048x128"}) {
                AttentionBench.Decode d = new AttentionBench.Decode();
                d.impl = "jlm";
                d.threads = t;
                d.shape = sh;
                d.setup();
                cs.add(new Config("decode " + sh + " t" + t, () -> attention.decode(d), 0));
            }
            for (int m : new int[] {1, 4, 128}) {
                QMatMulBench q = new QMatMulBench();
                q.impl = "jlm";
                q.shape = "4096x4096";
                q.m = m;
                q.threads = t;
                q.block = 32;
                q.setup();
                cs.add(new Config("qmatmul 4096x4096 m" + m + " t" + t, q::multiply, 0));
            }
            for (String problem : new String[] {"toeplitz", "independent"}) {
                LassoBench lasso = new LassoBench();
                lasso.impl = "jlm";
                lasso.problem = problem;
                lasso.threads = t;
                lasso.setup();
                cs.add(new Config("lasso " + problem + " t" + t, lasso::path, 0));
            }
        }
        return cs;
    }
}

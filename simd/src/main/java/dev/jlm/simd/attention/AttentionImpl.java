package dev.jlm.simd.attention;

import dev.jlm.simd.internal.KernelBase;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;
import dev.jlm.simd.internal.Lanes;
import dev.jlm.simd.internal.Rows;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Both attention implementations: argument checks, the split into (sequence, head, query tile) items, and the
 * tile loop with its online softmax. The arithmetic on one tile is in {@link TileOps}.
 */
final class AttentionImpl extends KernelBase<AttentionImpl> implements Attention {
    static final AttentionImpl SCALAR = new AttentionImpl(false, RowExecutor.cores());
    static final AttentionImpl VECTOR = new AttentionImpl(true, RowExecutor.cores());

    /** Query rows per tile. */
    static final int BQ = 32;
    /** Keys per tile; a multiple of twice the lane count of every species up to 512 bits. */
    static final int BK = 64;

    /** Keys per tile for at most four query rows (a decode step, a GQA group of one query): 2048. */
    static final int DECODE_KEYS = 2048;

    /**
     * Keys per tile for a tile of this many query rows: BK; four times as many for at most BQ / 4 rows, whose
     * scores fit the same scratch; and {@link #DECODE_KEYS} for at most four rows. Longer tiles spread the
     * per-tile softmax steps over more keys, and a decode step then reads its keys and values in runs of 2048
     * rows instead of alternating between the two every 256 (32 query heads on 8 or 32 kv heads, 8192 cached
     * positions, one thread, in-process alternation: 3-15% faster than 256-key tiles).
     */
    static int keyTile(int rows) {
        if (rows <= 4) {
            return DECODE_KEYS;
        }
        return rows <= BQ / 4 ? BQ * BK / (BQ / 4) : BK;
    }

    private static final ThreadLocal<Scratch> SCRATCH = new ThreadLocal<>();

    /**
     * The calling thread's buffer for the partial states of a split decode step (at most 8 items x 8 ranges x
     * 32 rows x (headDim + 2) floats), kept between calls so that a decode step does not allocate it each time.
     * Every range writes its whole state before the merge reads it, so the buffer needs no clearing; a call
     * owns it from its start to its merge, both on the calling thread.
     */
    private static final ThreadLocal<float[]> PARTS = new ThreadLocal<>();

    static float[] partBuffer(int floats) {
        float[] p = PARTS.get();
        if (p == null || p.length < floats) {
            p = new float[floats];
            PARTS.set(p);
        }
        return p;
    }

    /** Decoding with fewer items than this splits each item's keys into ranges (then merges the partial states). */
    static final int MIN_ITEMS = 8;
    /** Keys per range at least, when splitting. */
    static final int SPLIT_KEYS = 1024;


    private AttentionImpl(boolean vector, int threads) {
        super(vector, threads);
    }

    @Override
    protected AttentionImpl copy(int threads) {
        return new AttentionImpl(vector, threads);
    }

    @Override
    protected String name() {
        return "Attention";
    }

    // ---- entry points: geometry of each layout -----------------------------------------------------

    @Override
    public void apply(Tensor q, Tensor k, Tensor v, AttentionOptions options, Tensor out) {
        nonNull(q, k, v, options, out);
        rank4(q, "q");
        rank4(k, "k");
        rank4(v, "v");
        Rows.requireSameShape(k, "k", v, "v");
        Rows.requireSameShape(q, "q", out, "out");
        long batch = q.dim(0);
        int heads = intDim(q, 1, "q");
        int kvHeads = intDim(k, 1, "k");
        int qLen = intDim(q, 2, "q");
        int kvLen = intDim(k, 2, "k");
        int d = intDim(q, 3, "q");
        if (k.dim(0) != batch) {
            throw new JlmException.InvalidArgument("k " + k + " has batch " + k.dim(0) + " but q " + q + " has " + batch);
        }
        if (k.dim(3) != d) {
            throw new JlmException.InvalidArgument("head_dim of k " + k + " (" + k.dim(3) + ") differs from q " + q
                    + " (" + d + ")");
        }
        checkHeads(heads, kvHeads);
        Job j = new Job(this, q, k, v, out, options, heads, kvHeads, d);
        j.uniform((int) batch, qLen, kvLen, (long) qLen * d, d, (long) kvLen * d, d, (long) qLen * d, d);
        j.mask(options.mask(), (int) batch, heads, qLen, kvLen);
        j.run();
    }

    @Override
    public void applyPacked(Tensor q, Tensor k, Tensor v, long[] offsets, int heads, int kvHeads,
                            AttentionOptions options, Tensor out) {
        nonNull(q, k, v, options, out);
        if (offsets == null) {
            throw new JlmException.InvalidArgument("offsets must not be null");
        }
        if (options.mask() != null) {
            throw new JlmException.InvalidArgument("an additive mask is not supported for packed sequences;"
                    + " use causal, window or Lambda options");
        }
        if (heads < 1 || kvHeads < 1) {
            throw new JlmException.InvalidArgument("heads (" + heads + ") and kvHeads (" + kvHeads + ") must be positive");
        }
        checkHeads(heads, kvHeads);
        for (Tensor t : new Tensor[] {q, k, v, out}) {
            if (t.rank() != 2) {
                throw new JlmException.InvalidArgument("packed attention tensors must be [tokens, heads*headDim], not "
                        + t);
            }
        }
        Rows.requireSameShape(k, "k", v, "v");
        Rows.requireSameShape(q, "q", out, "out");
        if (q.dim(1) % heads != 0) {
            throw new JlmException.InvalidArgument("q " + q + ": width " + q.dim(1) + " is not a multiple of "
                    + heads + " heads");
        }
        int d = (int) (q.dim(1) / heads);
        if (k.dim(1) != (long) kvHeads * d) {
            throw new JlmException.InvalidArgument("k " + k + " must be [tokens, " + kvHeads + " * " + d
                    + "] (head_dim " + d + " of q " + q + ")");
        }
        long tokens = q.dim(0);
        if (k.dim(0) != tokens) {
            throw new JlmException.InvalidArgument("k " + k + " and q " + q + " must hold the same tokens");
        }
        if (offsets.length < 1 || offsets[0] != 0 || offsets[offsets.length - 1] != tokens) {
            throw new JlmException.InvalidArgument("offsets must start at 0 and end at the " + tokens + " tokens");
        }
        for (int i = 1; i < offsets.length; i++) {
            if (offsets[i] < offsets[i - 1]) {
                throw new JlmException.InvalidArgument("offsets must not decrease: offsets[" + i + "] = " + offsets[i]
                        + " < " + offsets[i - 1]);
            }
            if (offsets[i] - offsets[i - 1] > Integer.MAX_VALUE) {
                throw new JlmException.InvalidArgument("sequence " + (i - 1) + " is too long");
            }
        }
        Job j = new Job(this, q, k, v, out, options, heads, kvHeads, d);
        j.packed(offsets.clone());
        j.run();
    }

    @Override
    public void attend(KvCache cache, Tensor q, AttentionOptions options, Tensor out) {
        if (cache == null) {
            throw new JlmException.InvalidArgument("cache must not be null");
        }
        nonNull(q, cache.keys(), cache.values(), options, out);
        rank4(q, "q");
        Rows.requireSameShape(q, "q", out, "out");
        int heads = intDim(q, 1, "q");
        int qLen = intDim(q, 2, "q");
        int d = intDim(q, 3, "q");
        if (q.dim(0) != cache.batch()) {
            throw new JlmException.InvalidArgument("q " + q + " has batch " + q.dim(0) + " but the cache " + cache
                    + " has " + cache.batch());
        }
        if (d != cache.headDim()) {
            throw new JlmException.InvalidArgument("head_dim of q " + q + " (" + d + ") differs from the cache " + cache);
        }
        checkHeads(heads, cache.kvHeads());
        int kvLen = cache.length();
        if (qLen > kvLen) {
            throw new JlmException.InvalidArgument(qLen + " queries exceed the " + kvLen
                    + " positions in the cache " + cache + "; append their keys and values first");
        }
        long max = cache.maxSeq();
        Job j = new Job(this, q, cache.keys(), cache.values(), out, options, heads, cache.kvHeads(), d);
        j.uniform(cache.batch(), qLen, kvLen, (long) qLen * d, d, max * d, d, (long) qLen * d, d);
        j.mask(options.mask(), cache.batch(), heads, qLen, kvLen);
        j.run();
    }

    private static void nonNull(Tensor q, Tensor k, Tensor v, AttentionOptions o, Tensor out) {
        if (q == null || k == null || v == null || o == null || out == null) {
            throw new JlmException.InvalidArgument((q == null ? "q" : k == null ? "k" : v == null ? "v"
                    : o == null ? "options" : "out") + " must not be null");
        }
    }

    private static void rank4(Tensor t, String what) {
        if (t.rank() != 4) {
            throw new JlmException.InvalidArgument(what + " " + t + " must be [batch, heads, seq, headDim]");
        }
    }

    private static int intDim(Tensor t, int axis, String what) {
        long n = t.dim(axis);
        if (n > Integer.MAX_VALUE / 2) {
            throw new JlmException.InvalidArgument(what + " " + t + ": axis " + axis + " is too long");
        }
        return (int) n;
    }

    private static void checkHeads(int heads, int kvHeads) {
        if (kvHeads < 1 || heads % kvHeads != 0) {
            throw new JlmException.InvalidArgument("kv heads (" + kvHeads + ") must divide query heads (" + heads + ")");
        }
    }

    // ---- one call ------------------------------------------------------------------------------

    /** Everything one call needs, resolved once; items are (sequence, head, query tile). */
    static final class Job {
        final boolean vector;
        final int threads;
        final int heads;
        final int group;
        final int d;
        final DType qt;
        final DType kt;
        final DType vt;
        final MemorySegment qm;
        final MemorySegment km;
        final MemorySegment vm;
        final MemorySegment om;
        final Tensor q;
        final Tensor k;
        final Tensor v;
        final Tensor out;
        final float scale;
        final boolean causalLike;
        final long window;
        final long global;
        final AttentionOptions.Scoring scoring;
        // per-sequence geometry: element offset of sequence b is b * xBatch (uniform) or offsets[b] * xRow (packed)
        int batch;
        long[] offsets;
        int qLen;
        int kvLen;
        long qHead;
        long qRow;
        long kHead;
        long kRow;
        long oHead;
        long oRow;
        long[] cumItems;
        /**
         * GQA: the rows of a sequence's query heads sharing a kv head, ordered by position and then by query head,
         * are cut into tiles of BQ rows ({@link #groupTiles(int)} per kv head). A decode step is one tile per kv
         * head, so each cached key is read once per group, not once per query head; with more queries (a
         * speculative draft, a chunk of a prompt against a cache, a prefill, packed sequences) each key is read
         * once per tile, the tiles are full (12 queries x 4 heads: 2 tiles of 32 and 16 rows instead of 4 tiles of
         * 12), and a causal tile spans BQ / group positions, so less of it lies past the diagonal.
         */
        boolean groupedTiles;
        /**
         * Key ranges per item (decoding with few items, so that threads share the work): each range leaves its
         * unnormalized output, max and sum in {@code part}, merged after all ranges ran. 1: no split.
         */
        int splits = 1;
        /** Rows per item when split. */
        int splitRows;
        /** Per (item, range, row): d outputs, max, sum. */
        float[] part;
        /** Per (item, row): the output offset. */
        long[] partOut;
        // additive mask, contiguous [mb, mh, qLen, kvLen]
        MemorySegment mm;
        DType mt;
        boolean maskPerBatch;
        boolean maskPerHead;

        Job(AttentionImpl impl, Tensor q, Tensor k, Tensor v, Tensor out, AttentionOptions o, int heads, int kvHeads,
            int d) {
            Rows.requireFloatInput(q, "q");
            Rows.requireFloatInput(k, "k");
            Rows.requireFloatInput(v, "v");
            Rows.requireF32(out, "out");
            if (k.dtype() != v.dtype()) {
                throw new JlmException.InvalidArgument("k " + k + " and v " + v + " must have the same dtype");
            }
            for (Tensor t : new Tensor[] {q, k, v, out}) {
                if (!t.isContiguous()) {
                    throw new JlmException.InvalidArgument("attention input " + t
                            + " is a non-contiguous view; copy it first");
                }
            }
            Rows.requireDisjoint(q, "q", out, "out");
            Rows.requireDisjoint(k, "k", out, "out");
            Rows.requireDisjoint(v, "v", out, "out");
            if (d < 1) {
                throw new JlmException.InvalidArgument("head_dim of q " + q + " must be positive");
            }
            this.vector = impl.vector;
            this.threads = impl.threads;
            this.heads = heads;
            this.group = heads / kvHeads;
            this.d = d;
            this.q = q;
            this.k = k;
            this.v = v;
            this.out = out;
            this.qt = q.dtype();
            this.kt = k.dtype();
            this.vt = v.dtype();
            this.qm = q.segment();
            this.km = k.segment();
            this.vm = v.segment();
            this.om = out.segment();
            this.scale = Float.isNaN(o.scale()) ? (float) (1.0 / Math.sqrt(d)) : o.scale();
            this.causalLike = o.causalLike();
            this.window = o.window();
            this.global = o.globalTokens();
            this.scoring = o.scoring();
        }

        void uniform(int batch, int qLen, int kvLen, long qHead, long qRow, long kHead, long kRow, long oHead,
                     long oRow) {
            if (causalLike && qLen > kvLen) {
                throw new JlmException.InvalidArgument("causal attention of " + qLen + " queries needs at least as many"
                        + " keys, not " + kvLen);
            }
            this.batch = batch;
            this.qLen = qLen;
            this.kvLen = kvLen;
            this.qHead = qHead;
            this.qRow = qRow;
            this.kHead = kHead;
            this.kRow = kRow;
            this.oHead = oHead;
            this.oRow = oRow;
            cumItems = new long[batch + 1];
            groupedTiles = group > 1;
            long per = groupedTiles ? (long) (heads / group) * groupTiles(0) : (long) heads * tiles(qLen);
            long base = per * batch;
            // The split depends on the shape alone, never on the thread count: results stay the same bits. Items
            // are split only while one tile holds all of a sequence's rows of a head or kv group.
            boolean oneTile = groupedTiles ? groupTiles(0) == 1 : qLen <= BQ;
            splits = oneTile ? splits(base, qLen, kvLen) : 1;
            if (splits > 1) {
                splitRows = groupedTiles ? group * qLen : qLen;
                part = partBuffer((int) (base * splits * splitRows * (d + 2)));
                partOut = new long[(int) (base * splitRows)];
            }
            for (int b = 0; b < batch; b++) {
                cumItems[b + 1] = cumItems[b] + per * splits;
            }
        }

        /** Key ranges per item for items of qLen queries against kvLen keys, base items in all. */
        static int splits(long base, int qLen, int kvLen) {
            if (qLen > BQ / 4 || base >= MIN_ITEMS || kvLen < 2 * SPLIT_KEYS) {
                return 1;
            }
            return (int) Math.min((MIN_ITEMS + base - 1) / base, kvLen / SPLIT_KEYS);
        }

        void packed(long[] offsets) {
            this.offsets = offsets;
            this.groupedTiles = group > 1;
            this.batch = offsets.length - 1;
            long kvHeads = heads / group;
            this.qHead = d;
            this.qRow = (long) heads * d;
            this.kHead = d;
            this.kRow = kvHeads * d;
            this.oHead = d;
            this.oRow = (long) heads * d;
            cumItems = new long[batch + 1];
            for (int b = 0; b < batch; b++) {
                cumItems[b + 1] = cumItems[b] + (groupedTiles ? (long) (heads / group) * groupTiles(b)
                        : (long) heads * tiles((int) (offsets[b + 1] - offsets[b])));
            }
        }

        void mask(Tensor mask, int batch, int heads, int qLen, int kvLen) {
            if (mask == null) {
                return;
            }
            Rows.requireFloatInput(mask, "mask");
            boolean ok = mask.isContiguous() && (mask.rank() == 2 || mask.rank() == 4)
                    && mask.dim(-2) == qLen && mask.dim(-1) == kvLen;
            if (ok && mask.rank() == 4) {
                ok = (mask.dim(0) == 1 || mask.dim(0) == batch) && (mask.dim(1) == 1 || mask.dim(1) == heads);
            }
            if (!ok) {
                throw new JlmException.InvalidArgument("mask " + mask + " must be a contiguous [" + qLen + ", " + kvLen
                        + "] or [" + batch + "|1, " + heads + "|1, " + qLen + ", " + kvLen + "]");
            }
            Rows.requireDisjoint(mask, "mask", out, "out");
            mm = mask.segment();
            mt = mask.dtype();
            maskPerBatch = mask.rank() == 4 && mask.dim(0) == batch && batch > 1;
            maskPerHead = mask.rank() == 4 && mask.dim(1) == heads && heads > 1;
        }

        static int tiles(int len) {
            return (len + BQ - 1) / BQ;
        }

        /** Tiles of BQ rows per kv head of sequence b when {@link #groupedTiles}. */
        int groupTiles(int b) {
            return (int) (((long) qLen(b) * group + BQ - 1) / BQ);
        }

        int qLen(int b) {
            return offsets == null ? qLen : (int) (offsets[b + 1] - offsets[b]);
        }

        int kvLen(int b) {
            return offsets == null ? kvLen : (int) (offsets[b + 1] - offsets[b]);
        }

        long qStart(int b, int h) {
            return offsets == null ? ((long) b * heads + h) * qHead : offsets[b] * qRow + h * qHead;
        }

        long kStart(int b, int kh) {
            return offsets == null ? ((long) b * (heads / group) + kh) * kHead : offsets[b] * kRow + kh * kHead;
        }

        long oStart(int b, int h) {
            return offsets == null ? ((long) b * heads + h) * oHead : offsets[b] * oRow + h * oHead;
        }

        void run() {
            long items = cumItems[batch];
            if (items == 0) {
                return;
            }
            long work = 0;
            for (int b = 0; b < batch; b++) {
                work += (long) qLen(b) * kvLen(b);
            }
            long perItem = Math.max(1, work * heads * d / items);
            int chunks = RowExecutor.chunks(items, perItem, threads, qm, km, vm, om, mm);
            try {
                if (chunks <= 1) {
                    items(0, items);
                } else {
                    RowExecutor.run(chunks, items, this::items);   // several pieces per thread: see chunks()
                }
                if (splits > 1) {
                    merge();
                }
            } catch (IllegalStateException e) {
                throw new JlmException.InvalidArgument("attention input closed during the call: " + e.getMessage());
            }
        }

        void items(long from, long to) {
            Scratch sc = Scratch.get(d);
            int b = 0;
            while (cumItems[b + 1] <= from) {
                b++;
            }
            for (long it = from; it < to; it++) {
                while (cumItems[b + 1] <= it) {
                    b++;
                }
                long rem = it - cumItems[b];
                sc.partAt = -1;
                if (splits > 1) {
                    int range = (int) (rem % splits);
                    rem /= splits;
                    long item = (cumItems[b] / splits + rem);
                    sc.partAt = item * splits + range;
                    sc.outAt = item * splitRows;
                    int ks = kvLen(b);
                    // ranges on 16-key boundaries: whole groups of the few-row score pass
                    sc.lo = (long) ks * range / splits & ~15L;
                    sc.hi = range == splits - 1 ? ks : (long) ks * (range + 1) / splits & ~15L;
                }
                if (groupedTiles) {
                    int gt = groupTiles(b);
                    int r0 = (int) (rem % gt) * BQ;
                    tileGroupedRows(sc, b, (int) (rem / gt), r0, Math.min(qLen(b) * group, r0 + BQ));
                    continue;
                }
                int tiles = tiles(qLen(b));
                int h = (int) (rem / tiles);
                int t = (int) (rem % tiles);
                int q0 = t * BQ;
                tile(sc, b, h, q0, Math.min(qLen(b), q0 + BQ));
            }
        }

        /**
         * Each row of a split item from its ranges' states: weights e^(m_s - M) with M the largest max (1 for the
         * scorings without a running max), output sum_s w_s o_s / sum_s w_s l_s.
         */
        private void merge() {
            int w = d + 2;
            int rows = splitRows;
            long items = partOut.length / rows;
            boolean softmax = scoring == AttentionOptions.Scoring.SOFTMAX;
            float[] acc = new float[d];
            for (long it = 0; it < items; it++) {
                for (int r = 0; r < rows; r++) {
                    float big = Float.NEGATIVE_INFINITY;
                    for (int sp = 0; sp < splits; sp++) {
                        big = Math.max(big, part[(int) (((it * splits + sp) * rows + r) * w + d)]);
                    }
                    java.util.Arrays.fill(acc, 0f);
                    float sum = 0f;
                    for (int sp = 0; sp < splits; sp++) {
                        int at = (int) (((it * splits + sp) * rows + r) * w);
                        float ms = part[at + d];
                        // a range with nothing visible (max -inf) weighs 0
                        float f = !softmax ? 1f : ms == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(ms - big);
                        sum += f * part[at + d + 1];
                        for (int i = 0; i < d; i++) {
                            acc[i] += f * part[at + i];
                        }
                    }
                    TileOps.storeScaled(vector, acc, 0, d, 1f / sum, om, partOut[(int) (it * rows + r)]);
                }
            }
        }

        /** Start of the mask rows of head h of sequence b, or -1 without a mask. */
        private long maskStart(int b, int h) {
            if (mm == null) {
                return -1;
            }
            long mh = maskPerHead ? heads : 1;
            return (((maskPerBatch ? b : 0) * mh + (maskPerHead ? h : 0)) * qLen) * kvLen;
        }

        /** Query rows [q0, q1) of head h of sequence b, against every key tile they can see. */
        void tile(Scratch sc, int b, int h, int q0, int q1) {
            int rows = q1 - q0;
            long pos0 = kvLen(b) - qLen(b);
            long qb = qStart(b, h);
            long ob = oStart(b, h);
            long mb = maskStart(b, h);
            for (int r = 0; r < rows; r++) {
                int t = q0 + r;
                sc.rq[r] = qb + t * qRow;
                sc.ro[r] = ob + t * oRow;
                sc.rpos[r] = pos0 + t;
                sc.rmask[r] = mb < 0 ? -1 : mb + (long) t * kvLen;
            }
            keys(sc, b, h / group, rows, pos0 + q0, pos0 + q1 - 1);
        }

        /**
         * Rows [r0, r1) of sequence b's queries of the heads sharing kv head kh, row r being query r / group of head
         * kh * group + r % group.
         */
        void tileGroupedRows(Scratch sc, int b, int kh, int r0, int r1) {
            long pos0 = kvLen(b) - qLen(b);
            for (int r = r0; r < r1; r++) {
                int h = kh * group + r % group;
                int t = r / group;
                long mb = maskStart(b, h);
                int i = r - r0;
                sc.rq[i] = qStart(b, h) + t * qRow;
                sc.ro[i] = oStart(b, h) + t * oRow;
                sc.rpos[i] = pos0 + t;
                sc.rmask[i] = mb < 0 ? -1 : mb + (long) t * kvLen(b);
            }
            keys(sc, b, kh, r1 - r0, pos0 + r0 / group, pos0 + (r1 - 1) / group);
        }

        /** The rows set up in scratch (positions pFirst..pLast) against the keys of kv head kh they can see. */
        private void keys(Scratch sc, int b, int kh, int rows, long pFirst, long pLast) {
            int kvl = kvLen(b);
            long kb = kStart(b, kh);
            sc.start(this, rows);
            long kEnd = causalLike ? Math.min(kvl, pLast + 1) : kvl;
            long kStart = window > 0 ? Math.max(0, pFirst - window + 1) : 0;
            long gEnd = Math.min(global, kStart);
            long gStart = 0;
            if (sc.partAt >= 0) {
                gStart = Math.max(gStart, sc.lo);
                gEnd = Math.min(gEnd, sc.hi);
                kStart = Math.max(kStart, sc.lo);
                kEnd = Math.min(kEnd, sc.hi);
            }
            int tk = keyTile(rows);
            for (long k0 = gStart; k0 < gEnd; k0 += tk) {
                block(sc, rows, pFirst, pLast, kb, k0, (int) Math.min(tk, gEnd - k0));
            }
            for (long k0 = kStart; k0 < kEnd; k0 += tk) {
                block(sc, rows, pFirst, pLast, kb, k0, (int) Math.min(tk, kEnd - k0));
            }
            sc.finish(this, rows);
        }

        /** Keys [k0, k0 + n) for the tile's rows, whose positions are pFirst..pLast. */
        private void block(Scratch sc, int rows, long pFirst, long pLast, long kb, long k0, int n) {
            long k1 = k0 + n;
            boolean wide = TileOps.wide(this, rows);
            TileOps.scores(this, sc, rows, kb + k0 * kRow, n);
            float[] s = sc.s;
            // scores are [row][key] (stride keyTile), or [key][row] (stride BQ) in the wide layout
            int rs = wide ? 1 : keyTile(rows);
            int cs = wide ? BQ : 1;
            if (mm != null) {
                for (int r = 0; r < rows; r++) {
                    long mi = sc.rmask[r] + k0;
                    int so = r * rs;
                    for (int j = 0; j < n; j++) {
                        s[so + j * cs] += Lanes.get(mt, mm, mi + j);
                    }
                }
            }
            // Only tiles that cross a boundary need masking element by element; the others are whole or skipped.
            boolean full = (!causalLike || k1 - 1 <= pFirst)
                    && (window == 0 || k0 > pLast - window || k1 <= global);
            if (!full && wide) {
                TileOps.maskWide(s, sc.rposI, n, k0, window, global);
            } else if (!full) {
                for (int r = 0; r < rows; r++) {
                    long p = sc.rpos[r];
                    int so = r * rs;
                    for (int j = 0; j < n; j++) {
                        long kp = k0 + j;
                        boolean visible = kp <= p && (window == 0 || kp > p - window || kp < global);
                        if (!visible) {
                            s[so + j * cs] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
            }
            TileOps.accumulate(this, sc, rows, kb + k0 * kRow, n);
        }
    }

    /**
     * Per-thread scratch, allocated once per thread and grown only for a larger head size: the scaled query tile
     * (and its transpose, {@code kt}), the output accumulator, one tile of scores, the key and value tiles in F32, running max, sum
     * and rescale factors. {@code O(BQ * headDim + BK * headDim)} floats and {@link #SCORES} of scores, whatever the sequence length.
     */
    static final class Scratch {
        /** Floats of scores one tile holds: the larger of a wide tile and four rows of {@link #DECODE_KEYS}. */
        static final int SCORES = Math.max(BQ * BK, 4 * DECODE_KEYS);
        /** Rows of F16/BF16 keys or values converted at a time for the few-row kernels (a value chunk, 16 keys). */
        static final int CONV_ROWS = TileOps.VK;
        /** F32 copies of a chunk of 16-bit key or value rows, off-heap, freed with this scratch. */
        final MemorySegment conv;
        final int d;
        final float[] q;
        final float[] o;
        final float[] s;
        final float[] kt;
        final float[] vt;
        final float[] kf;
        final float[] m = new float[BQ];
        final float[] l = new float[BQ];
        final float[] alpha = new float[BQ];
        /** The max each row's scores are reduced by (0 where no key is visible yet). */
        final float[] ms = new float[BQ];
        /**
         * The few-row score passes' partial sums: up to 4 rows x 16 keys of unreduced vectors parked by the
         * register-query kernels, then 4 folded vectors (68 vectors of up to 16 lanes).
         */
        final float[] z = new float[68 * 16];
        /** Per row of the tile: element offsets of its query and output row, its position, its mask row. */
        final long[] rq = new long[BQ];
        final long[] ro = new long[BQ];
        final long[] rpos = new long[BQ];
        /** rpos as ints (positions are below 2^31), rows past the tile's far below any key: for lane-wise masks. */
        final int[] rposI = new int[BQ];
        final long[] rmask = new long[BQ];
        /** When the item is one key range [lo, hi) of a split item: its (item, range) index, else -1. */
        long partAt = -1;
        long outAt;
        long lo;
        long hi;

        private Scratch(int d) {
            this.d = d;
            q = new float[BQ * d];
            o = new float[BQ * d];
            s = new float[SCORES];
            kt = new float[d * BQ];
            vt = new float[BK * d];
            kf = new float[BK * d];
            conv = Arena.ofAuto().allocate(4L * CONV_ROWS * d, 64);
        }

        static Scratch get(int d) {
            Scratch sc = SCRATCH.get();
            if (sc == null || sc.d < d) {
                sc = new Scratch(Math.max(d, 64));
                SCRATCH.set(sc);
            }
            return sc;
        }

        /** Bytes of scratch one thread holds for head size d. */
        static long bytes(int d) {
            int dd = Math.max(d, 64);
            return 4L * (3L * BQ * dd + (long) SCORES + 2L * dd * BK + (long) CONV_ROWS * dd + 5L * BQ + 256) + 8L * 4 * BQ;
        }

        void start(Job j, int rows) {
            for (int r = 0; r < BQ; r++) {
                rposI[r] = r < rows ? (int) rpos[r] : Integer.MIN_VALUE / 2;
            }
            TileOps.loadQuery(j, this, rows);
            java.util.Arrays.fill(o, 0, rows * j.d, 0f);
            // all BQ entries: the wide layout computes whole lane groups, padding rows included
            java.util.Arrays.fill(m, Float.NEGATIVE_INFINITY);
            java.util.Arrays.fill(l, 0f);
        }

        void finish(Job j, int rows) {
            int dd = j.d;
            if (partAt >= 0) {
                // one key range of a split item: the state as it stands, merged in Job.merge
                int w = dd + 2;
                int at = (int) (partAt * rows * w);
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(o, r * dd, j.part, at + r * w, dd);
                    j.part[at + r * w + dd] = m[r];
                    j.part[at + r * w + dd + 1] = l[r];
                    j.partOut[(int) outAt + r] = ro[r];
                }
                return;
            }
            for (int r = 0; r < rows; r++) {
                float inv = 1f / l[r];
                long oi = ro[r];
                TileOps.storeScaled(j.vector, o, r * dd, dd, inv, j.om, oi);
            }
        }
    }
}

package dev.jlm.prune.lasso;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.io.AtomicFiles;
import dev.jlm.core.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reader and writer of NumPy {@code .npy} files (format versions 1, 2 and 3): little-endian float32,
 * float64, int32 and int64 arrays in C or Fortran order. Anything else (big-endian data, object arrays,
 * other dtypes, truncated or oversized files) is refused with a one-line {@link JlmException} naming the file.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Npy() {
    }

    /**
     * An array read from a file. {@code data} holds the elements in file order: for C order its shape is
     * {@code shape}; for Fortran order its shape is {@code shape} reversed (the bytes of a Fortran-order
     * array are the C-order bytes of its transpose). The tensor owns its memory; close it (or this record).
     */
    public record NpyArray(Tensor data, long[] shape, boolean fortranOrder) implements AutoCloseable {
        public NpyArray {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** The element at {@code index} (in the array's logical shape) as a double. */
        public double get(long... index) {
            if (!fortranOrder) {
                return data.getDouble(index);
            }
            long[] rev = new long[index.length];
            for (int i = 0; i < index.length; i++) {
                rev[i] = index[index.length - 1 - i];
            }
            return data.getDouble(rev);
        }

        /** All elements in logical C order as doubles (a heap copy). */
        public double[] toDoubleArray() {
            long count = data.size();
            if (count > Integer.MAX_VALUE - 8) {
                throw new JlmException.InvalidArgument("array of " + count + " elements is too large for a Java array");
            }
            double[] out = new double[(int) count];
            long[] idx = new long[shape.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = get(idx);
                for (int a = idx.length - 1; a >= 0; a--) {
                    if (++idx[a] < shape[a]) {
                        break;
                    }
                    idx[a] = 0;
                }
            }
            return out;
        }

        @Override
        public void close() {
            data.close();
        }
    }

    /** Reads a whole {@code .npy} file into off-heap memory. */
    public static NpyArray read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, pre, 0, file);
            pre.flip();
            if (pre.limit() < 10) {
                throw bad(file, "too short to be a .npy file");
            }
            byte[] magic = new byte[6];
            pre.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw bad(file, "not a .npy file (bad magic)");
            }
            int major = pre.get() & 0xff;
            pre.get(); // minor
            long headerLen;
            int prefix;
            if (major == 1) {
                headerLen = pre.getShort() & 0xffff;
                prefix = 10;
            } else if (major == 2 || major == 3) {
                if (pre.limit() < 12) {
                    throw bad(file, "truncated header");
                }
                headerLen = pre.getInt() & 0xffffffffL;
                prefix = 12;
            } else {
                throw bad(file, "unsupported .npy format version " + major);
            }
            if (headerLen > 1 << 20 || prefix + headerLen > size) {
                throw bad(file, "truncated or oversized header");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, prefix, file);
            String header = new String(hb.array(), 0, hb.position(),
                    major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            Matcher md = DESCR.matcher(header);
            Matcher mf = FORTRAN.matcher(header);
            Matcher ms = SHAPE.matcher(header);
            if (!md.find() || !mf.find() || !ms.find()) {
                throw bad(file, "malformed header " + header.strip());
            }
            DType dtype = dtypeOf(md.group(1), file);
            boolean fortran = mf.group(1).equals("True");
            long[] shape = parseShape(ms.group(1), file);
            long count;
            try {
                count = 1;
                for (long d : shape) {
                    count = Math.multiplyExact(count, d);
                }
            } catch (ArithmeticException e) {
                throw bad(file, "shape " + Arrays.toString(shape) + " is too large");
            }
            long dataStart = prefix + headerLen;
            long bytes = Math.multiplyExact(count, (long) dtype.bits() / 8);
            if (size - dataStart != bytes) {
                throw bad(file, "holds " + (size - dataStart) + " data bytes but " + dtype + Arrays.toString(shape)
                        + " needs " + bytes + (size - dataStart < bytes ? " (truncated)" : ""));
            }
            long[] storage = shape.clone();
            if (fortran) {
                for (int i = 0; i < storage.length / 2; i++) {
                    long t = storage[i];
                    storage[i] = storage[storage.length - 1 - i];
                    storage[storage.length - 1 - i] = t;
                }
            }
            Tensor t = Tensor.allocate(dtype, storage);
            try {
                MemorySegment seg = t.segment();
                long done = 0;
                while (done < bytes) {
                    long chunk = Math.min(bytes - done, 1L << 30);
                    ByteBuffer bb = seg.asSlice(done, chunk).asByteBuffer();
                    readFully(ch, bb, dataStart + done, file);
                    if (bb.hasRemaining()) {
                        throw bad(file, "truncated data");
                    }
                    done += chunk;
                }
                return new NpyArray(t, shape, fortran);
            } catch (RuntimeException e) {
                t.close();
                throw e;
            }
        } catch (NoSuchFileException e) {
            throw new JlmException.Io(file + ": no such file", e);
        } catch (IOException e) {
            throw new JlmException.Io(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path file) throws IOException {
        long p = pos;
        while (buf.hasRemaining()) {
            int r = ch.read(buf, p);
            if (r < 0) {
                break;
            }
            p += r;
        }
    }

    private static DType dtypeOf(String descr, Path file) {
        if (descr.length() < 2) {
            throw bad(file, "unsupported dtype '" + descr + "'");
        }
        char order = descr.charAt(0);
        String kind = descr.substring(1);
        if (order == '>' ) {
            throw new JlmException.Unsupported(file + ": big-endian dtype '" + descr + "' is not supported; save it little-endian");
        }
        if (order != '<' && order != '|' && order != '=') {
            throw bad(file, "unsupported dtype '" + descr + "'");
        }
        if (order == '=' && ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new JlmException.Unsupported(file + ": native-order dtype on a big-endian machine is not supported");
        }
        return switch (kind) {
            case "f4" -> DType.F32;
            case "f8" -> DType.F64;
            case "i4" -> DType.I32;
            case "i8" -> DType.I64;
            default -> throw new JlmException.Unsupported(file + ": dtype '" + descr
                    + "' is not supported (float32, float64, int32 or int64 only)");
        };
    }

    private static long[] parseShape(String s, Path file) {
        String t = s.strip();
        if (t.isEmpty()) {
            return new long[0];
        }
        String[] parts = t.split(",");
        int n = parts.length;
        if (parts[n - 1].isBlank()) {
            n--;
        }
        long[] shape = new long[n];
        for (int i = 0; i < n; i++) {
            String p = parts[i].strip();
            if (p.endsWith("L")) {
                p = p.substring(0, p.length() - 1);
            }
            try {
                shape[i] = Long.parseLong(p);
            } catch (NumberFormatException e) {
                throw bad(file, "bad shape (" + s + ")");
            }
            if (shape[i] < 0) {
                throw bad(file, "negative dimension in shape (" + s + ")");
            }
        }
        return shape;
    }

    private static JlmException bad(Path file, String what) {
        return new JlmException.InvalidModel(file + ": " + what);
    }

    /**
     * Writes a float64 array in C order, {@code values} in row-major order of {@code shape}. The file is
     * written next to the target and moved into place, so a reader never sees half a file.
     */
    public static void writeF64(Path file, double[] values, long... shape) {
        long count = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new JlmException.InvalidArgument(file + ": negative dimension in " + Arrays.toString(shape));
            }
            count *= d;
        }
        if (count != values.length) {
            throw new JlmException.InvalidArgument(file + ": shape " + Arrays.toString(shape) + " holds " + count
                    + " elements, not " + values.length);
        }
        StringBuilder sh = new StringBuilder();
        for (long d : shape) {
            sh.append(d).append(", ");
        }
        if (shape.length > 1) {
            sh.setLength(sh.length() - 2);
        } else if (shape.length == 1) {
            sh.setLength(sh.length() - 1);
        }
        String dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + sh + "), }";
        int total = 10 + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer buf = ByteBuffer.allocate(10 + header.length() + 8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length());
        buf.put(header.getBytes(StandardCharsets.ISO_8859_1));
        // Heap doubles are native-order; copy element-wise so the file is little-endian on every platform.
        MemorySegment body = MemorySegment.ofArray(buf.array()).asSlice(10 + header.length());
        for (int i = 0; i < values.length; i++) {
            body.setAtIndex(F64, i, values[i]);
        }
        buf.position(buf.capacity()).flip();
        AtomicFiles.write(file, List.of(), ch -> {
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
        });
    }
}

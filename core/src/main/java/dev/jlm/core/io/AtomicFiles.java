package dev.jlm.core.io;

import dev.jlm.core.JlmException;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collection;

/**
 * Writes files so that a reader never sees a partial one: the content goes to a temporary file in the
 * target's directory, is flushed to disk, and is then renamed over the target in one atomic step. If
 * anything fails, the temporary file is removed and the target is left as it was.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** Produces the content of a file into an open channel (wrap it with {@code Channels.newOutputStream} for streams). */
    @FunctionalInterface
    public interface Writer {
        void write(FileChannel out) throws IOException;
    }

    /**
     * Writes {@code target} atomically.
     *
     * @param protectedInputs files that must never be overwritten (the inputs of the operation); writing
     *                        to one of them is refused with a clear error
     */
    public static void write(Path target, Collection<Path> protectedInputs, Writer writer) {
        Path abs = target.toAbsolutePath().normalize();
        refuseInputs(abs, protectedInputs);
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new JlmException.Io(target + ": the output directory does not exist", null);
        }
        if (Files.isDirectory(abs, LinkOption.NOFOLLOW_LINKS)) {
            throw new JlmException.Io(target + ": is a directory", null);
        }
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, "." + abs.getFileName(), ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writer.write(ch);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new JlmException.Io(target + ": cannot write (" + oneLine(e) + ")", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the temporary file is hidden and named after the target
                }
            }
        }
    }

    /** Throws if {@code target} is one of {@code inputs} (same file, also through links). */
    public static void refuseInputs(Path target, Collection<Path> inputs) {
        for (Path in : inputs) {
            if (in == null) {
                continue;
            }
            Path a = in.toAbsolutePath().normalize();
            boolean same = a.equals(target.toAbsolutePath().normalize());
            if (!same && Files.exists(target) && Files.exists(a)) {
                try {
                    same = Files.isSameFile(a, target);
                } catch (IOException ignored) {
                    // unreadable: treat as different, the write itself will fail if it must
                }
            }
            if (same) {
                throw new JlmException.InvalidArgument(target + ": refusing to overwrite the input; choose another output path");
            }
        }
    }

    /** The message of an exception on one line, for error messages. */
    public static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
        }
        return m.replaceAll("\\s*[\\r\\n]+\\s*", "; ");
    }
}

package dev.jlm.simd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which memory the kernels' fast loops take: every kind of off-heap allocation, and nothing else. */
class SegmentsTest {

    @Test
    void allocatedMemoryOfEveryArenaAndItsViewsIsPlain() {
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared();
             Tensor t = Tensor.allocate(DType.F32, 4, 8)) {
            for (MemorySegment s : new MemorySegment[] {confined.allocate(64), shared.allocate(64, 64),
                    Arena.ofAuto().allocate(16), Arena.global().allocate(8), t.segment(), t.get(1).segment(),
                    shared.allocate(64).asSlice(8, 16), shared.allocate(64).asReadOnly(), MemorySegment.ofAddress(64)}) {
                assertTrue(Segments.plain(s), s.toString());
                assertEquals(Segments.NATIVE, s.getClass());
            }
        }
    }

    @Test
    void heapAndMappedMemoryAreNotPlain(@TempDir Path dir) throws Exception {
        assertFalse(Segments.plain(MemorySegment.ofArray(new float[4])));
        assertFalse(Segments.plain(MemorySegment.ofArray(new byte[4])));
        Path file = dir.resolve("f.bin");
        Files.write(file, new byte[4096]);
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, 4096, arena);
            assertFalse(Segments.plain(mapped), "a mapped segment is another class: the general loops");
        }
        // optional inputs: null counts as plain, any non-plain one does not
        assertTrue(Segments.plain(Arena.ofAuto().allocate(4), null));
        assertFalse(Segments.plain(Arena.ofAuto().allocate(4), null, MemorySegment.ofArray(new int[1])));
    }
}

package dev.bloom4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streaming writes: {@link RandomCheckpoint.Builder#streamTo} and {@link SafetensorsWriter#open} must produce the
 * very bytes of the in-memory writers (which {@link SafetensorsWriterTest} checks against the format), for every
 * layout.
 */
class StreamingCheckpointTest {

    @TempDir
    Path temp;

    static final BloomConfig CONFIG = BloomConfig.of(1024, 64, 2, 4);

    /** Every file of a directory, by name. */
    static Map<String, byte[]> contents(Path dir) throws IOException {
        Map<String, byte[]> files = new java.util.TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.toList()) {
                files.put(p.getFileName().toString(), Files.readAllBytes(p));
            }
        }
        return files;
    }

    static void assertSameFiles(Path expected, Path actual) throws IOException {
        Map<String, byte[]> a = contents(expected);
        Map<String, byte[]> b = contents(actual);
        assertEquals(a.keySet(), b.keySet());
        for (String name : a.keySet()) {
            assertArrayEquals(a.get(name), b.get(name), name + " differs");
        }
    }

    @Test
    void streamedCheckpointIsByteIdenticalToTheInMemoryOne() throws IOException {
        int layout = 0;
        for (DataType type : DataType.values()) {
            for (int shards : new int[] {1, 3}) {
                for (boolean tied : new boolean[] {true, false}) {
                    RandomCheckpoint.Builder builder = RandomCheckpoint.builder(CONFIG).seed(9).dataType(type)
                            .shards(shards).tiedLmHead(tied).transformerPrefix(!tied)
                            .extraConfig(RandomCheckpoint.RANDOM_WEIGHTS_KEY, true);
                    Path inMemory = builder.build().writeTo(temp.resolve("memory-" + layout));
                    List<Double> progress = new ArrayList<>();
                    Path streamed = builder.streamTo(temp.resolve("stream-" + layout), progress::add);
                    assertSameFiles(inMemory, streamed);
                    assertFalse(progress.isEmpty());
                    assertEquals(1.0, progress.get(progress.size() - 1), 0);
                    for (int i = 1; i < progress.size(); i++) {
                        assertTrue(progress.get(i) >= progress.get(i - 1), "progress never goes back");
                    }
                    assertTrue(RandomCheckpoint.isMarkedRandom(streamed));
                    layout++;
                }
            }
        }
        assertFalse(RandomCheckpoint.isMarkedRandom(temp.resolve("nowhere")));
    }

    @Test
    void streamingRefusesWhatWritingRefuses() throws IOException {
        Files.writeString(temp.resolve("stale"), "x");
        var e = assertThrows(IllegalArgumentException.class,
                () -> RandomCheckpoint.builder(CONFIG).streamTo(temp, null));
        assertTrue(e.getMessage().contains("is not empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> RandomCheckpoint.builder(CONFIG).shards(100).streamTo(temp.resolve("x"), null));
        assertTrue(e.getMessage().contains("shards 100 exceeds the model's 29 tensors"), e.getMessage());
    }

    @Test
    void inMemoryCheckpointsRefuseShapesTooLargeForAnArray() {
        // 250880 x 16384 embeddings: more elements than a float[] holds; the streaming path is the way.
        var e = assertThrows(IllegalArgumentException.class,
                () -> RandomCheckpoint.builder(BloomConfig.of(250880, 16384, 1, 1)).build());
        assertTrue(e.getMessage().contains("word_embeddings.weight") && e.getMessage().contains("streamTo"),
                e.getMessage());
    }

    @Test
    void streamingWriterTakesValuesInPiecesAndAnyOrder() throws IOException {
        List<TensorData> tensors = List.of(
                new TensorData("b", new int[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}),
                new TensorData("a", new int[] {5}, new float[] {-0.5f, 0.25f, 1e-3f, 7, 65504}),
                new TensorData("c", new int[] {}, new float[] {7}));
        for (DataType type : DataType.values()) {
            Path expected = temp.resolve("expected-" + type + ".safetensors");
            SafetensorsWriter.write(expected, tensors, type);
            Path actual = temp.resolve("actual-" + type + ".safetensors");
            List<TensorSpec> specs = tensors.stream().map(TensorSpec::of).toList();
            try (var writer = SafetensorsWriter.open(actual, specs, type, SafetensorsWriter.PYTORCH_METADATA)) {
                assertEquals(12 * type.byteSize(), writer.totalBytes());
                writer.write("c", new float[] {7}, 0, 1);
                writer.write("b", new float[] {9, 1, 2, 3}, 1, 3);   // an offset into the array
                writer.write("a", tensors.get(1).values(), 0, 2);
                writer.write("b", new float[] {4, 5, 6}, 0, 3);
                writer.write("a", tensors.get(1).values(), 2, 3);
                assertEquals(12 * type.byteSize(), writer.bytesWritten());
            }
            assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(actual), type.toString());
        }
    }

    @Test
    void streamingWriterRejectsOverrunsUnknownNamesAndIncompleteTensors() throws IOException {
        List<TensorSpec> specs = List.of(new TensorSpec("x", new long[] {2}), new TensorSpec("y", new long[] {3}));
        Path file = temp.resolve("bad.safetensors");
        var writer = SafetensorsWriter.open(file, specs, DataType.F32, null);
        var unknown = assertThrows(IllegalArgumentException.class, () -> writer.write("z", new float[1], 0, 1));
        assertTrue(unknown.getMessage().contains("z"), unknown.getMessage());
        writer.write("x", new float[] {1}, 0, 1);
        var overrun = assertThrows(IllegalArgumentException.class, () -> writer.write("x", new float[2], 0, 2));
        assertTrue(overrun.getMessage().contains("tensor x has 2 elements"), overrun.getMessage());
        writer.write("x", new float[] {2}, 0, 1);
        var incomplete = assertThrows(IllegalStateException.class, writer::close);
        assertTrue(incomplete.getMessage().contains("tensor y is incomplete: 0 of 3"), incomplete.getMessage());
        writer.close(); // idempotent

        var duplicate = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.open(file,
                List.of(new TensorSpec("x", new long[] {1}), new TensorSpec("x", new long[] {2})), DataType.F32, null));
        assertTrue(duplicate.getMessage().contains("duplicate tensor name x"), duplicate.getMessage());
        var overflow = assertThrows(IllegalArgumentException.class,
                () -> new TensorSpec("huge", new long[] {1L << 40, 1L << 40}));
        assertTrue(overflow.getMessage().contains("overflows"), overflow.getMessage());
        var sharded = assertThrows(IllegalStateException.class, () -> {
            try (var w = SafetensorsWriter.openSharded(temp.resolve("shards"), specs, DataType.F32, 2)) {
                w.write("x", new float[2], 0, 2);
            }
        });
        assertTrue(sharded.getMessage().contains("tensor y is incomplete"), sharded.getMessage());
        assertFalse(Files.exists(temp.resolve("shards").resolve(SafetensorsWriter.INDEX_FILE_NAME)),
                "no index for an incomplete checkpoint");
    }

    @Test
    void releasedShapesAreTheBigScienceModels() {
        assertEquals(List.of("bloom-560m", "bloom-1b1", "bloom-1b7", "bloom-3b", "bloom-7b1", "bloom"),
                List.copyOf(BloomConfig.RELEASED.keySet()));
        BloomConfig b560 = BloomConfig.released("bloom-560m");
        assertEquals(250880, b560.vocabSize());
        assertEquals(1024, b560.hiddenSize());
        assertEquals(24, b560.layerCount());
        assertEquals(16, b560.headCount());
        // bigscience/bloom-560m has 559,214,592 parameters (model.num_parameters()).
        assertEquals(559_214_592L, b560.parameterCount());
        assertEquals(BloomConfig.released("bloom-7b1"), BloomConfig.released("bigscience/bloom-7b1"));
        BloomConfig b7 = BloomConfig.released("bloom-7b1");
        assertEquals(4096, b7.hiddenSize());
        assertEquals(30, b7.layerCount());
        assertEquals(32, b7.headCount());
        assertEquals(7_069_016_064L, b7.parameterCount(), "bigscience/bloom-7b1's published parameter count");
        BloomConfig b176 = BloomConfig.released("bigscience/bloom");
        assertEquals(b176, BloomConfig.released("bloom-176b"));
        assertEquals(14336, b176.hiddenSize());
        assertEquals(70, b176.layerCount());
        assertEquals(112, b176.headCount());
        assertEquals(128, b176.headDimension());
        assertEquals(176_247_271_424L, b176.parameterCount(), "bigscience/bloom's published parameter count");
        var e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.released("bloom-13b"));
        assertTrue(e.getMessage().contains("bloom-13b") && e.getMessage().contains("bloom-1b7"), e.getMessage());
    }
}

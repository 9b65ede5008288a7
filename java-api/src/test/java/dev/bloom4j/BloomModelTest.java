package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BloomModelTest {

    @TempDir
    static Path temp;

    static Path modelDir;
    static BloomModel model;

    @BeforeAll
    static void load() {
        modelDir = TinyModels.random(temp.resolve("tiny"), 11, DataType.F32);
        model = BloomModel.load(modelDir);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void infoReportsTheCheckpointsHyperParameters() {
        ModelInfo info = model.info();
        assertEquals(1024, info.vocabularySize());
        assertEquals(1000, info.tokenizerVocabularySize()); // the bundled tokenizer; the rest is padding
        assertEquals(256, info.trainingContextLength());
        assertEquals(2, info.layerCount());
        assertEquals(64, info.embeddingSize());
        assertEquals(4, info.headCount());
        assertEquals(WeightType.F32, info.weightType());
        assertEquals("f32", info.weightType().nativeName());
        assertEquals(1e-5f, info.layerNormEpsilon());
        assertEquals(OptionalInt.of(1), info.bosToken());
        assertEquals(OptionalInt.of(2), info.eosToken());
        assertEquals(OptionalInt.of(3), info.padToken());
        assertEquals(OptionalInt.of(0), info.unkToken());
        // Embedding + its layer norm + per layer (2 norms, qkv, dense, h->4h, 4h->h) + ln_f; head tied.
        long h = 64;
        long perLayer = 2 * 2 * h + (3 * h * h + 3 * h) + (h * h + h) + (4 * h * h + 4 * h) + (4 * h * h + h);
        assertEquals(1024 * h + 2 * h + 2 * perLayer + 2 * h, info.parameterCount());
        assertEquals(modelDir, model.path());
    }

    @Test
    void weightTypeFollowsTheStoredDtype() {
        try (BloomModel f16 = BloomModel.load(TinyModels.random(temp.resolve("f16"), 11, DataType.F16));
             BloomModel bf16 = BloomModel.load(TinyModels.random(temp.resolve("bf16"), 11, DataType.BF16))) {
            assertEquals(WeightType.F16, f16.info().weightType());
            assertEquals(WeightType.BF16, bf16.info().weightType());
        }
    }

    @Test
    void tokenizeDecodeRoundTrip() {
        String text = "Hello world, this is a test.";
        int[] ids = model.tokenize(text);
        assertTrue(ids.length > 0 && ids.length <= text.length(), "ids: " + ids.length);
        for (int id : ids) {
            assertTrue(id >= 0 && id < 1000, "id " + id);
        }
        assertEquals(text, model.decode(ids));
        assertEquals(0, model.tokenize("").length);
        assertEquals("", model.decode(new int[0]));
    }

    @Test
    void specialTokensAreParsedOnlyWhenAsked() {
        int[] parsed = model.tokenize("a</s>", true);
        assertEquals(2, parsed[parsed.length - 1]);
        int[] plain = model.tokenize("a</s>", false);
        for (int id : plain) {
            assertFalse(id == 2, "</s> must be plain text with parseSpecial=false");
        }
        assertEquals("a</s>", model.decode(parsed));
        assertEquals("a", model.decode(parsed, true));
    }

    @Test
    void tokenStringsAreVocabularySpellings() {
        int[] ids = model.tokenize("a b");
        List<String> strings = model.tokenStrings(ids);
        assertEquals(ids.length, strings.size());
        // ByteLevel spelling: the space before "b" shows as 'Ġ' in one of the tokens.
        assertTrue(String.join("", strings).contains("Ġ"), strings.toString());
        assertEquals(List.of("</s>"), model.tokenStrings(new int[] {2}));
        assertEquals(List.of(""), model.tokenStrings(new int[] {1023})); // padding id: no text
    }

    @Test
    void tokenBytesJoinToTheTextsUtf8() {
        String text = "a b, caf\u00e9 \u00fc!";
        var all = new java.io.ByteArrayOutputStream();
        for (int id : model.tokenize(text)) {
            all.writeBytes(model.tokenBytes(id));
        }
        assertArrayEquals(text.getBytes(java.nio.charset.StandardCharsets.UTF_8), all.toByteArray());
        assertArrayEquals("</s>".getBytes(java.nio.charset.StandardCharsets.US_ASCII), model.tokenBytes(2));
        assertEquals(0, model.tokenBytes(1023).length); // padding id: no text
        assertThrows(IllegalArgumentException.class, () -> model.tokenBytes(1024));
    }

    @Test
    void outOfRangeTokenIdsAreRejectedInJavaNamingTheId() {
        var e = assertThrows(IllegalArgumentException.class, () -> model.decode(new int[] {5, 1024}));
        assertTrue(e.getMessage().contains("ids[1] = 1024"), e.getMessage());
        assertTrue(e.getMessage().contains("0..1023"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.tokenStrings(new int[] {-1}));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
    }

    @Test
    void unpairedSurrogateIsRejected() {
        var e = assertThrows(IllegalArgumentException.class, () -> model.tokenize("ab\uD800c"));
        assertTrue(e.getMessage().contains("U+D800") && e.getMessage().contains("index 2"), e.getMessage());
        assertDoesNotThrow(() -> model.tokenize("emoji \uD83D\uDE00 ok"));
    }

    @Test
    void modelIsUsableFromManyThreadsAtOnce() throws Exception {
        int[] expected = model.tokenize("shared across threads");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<int[]>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                results.add(pool.submit(() -> model.tokenize("shared across threads")));
            }
            for (Future<int[]> f : results) {
                assertArrayEquals(expected, f.get());
            }
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void missingDirectoryIsModelNotFound() {
        Path missing = temp.resolve("nope");
        var e = assertThrows(ModelNotFoundException.class, () -> BloomModel.load(missing));
        assertEquals(BloomStatus.IO, e.status());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test
    void missingWeightsFileIsReportedByTheNativeLoader() throws Exception {
        Path dir = TinyModels.random(temp.resolve("noweights"), 3, DataType.F32);
        Files.delete(dir.resolve("model.safetensors"));
        var e = assertThrows(BloomException.class, () -> BloomModel.load(dir));
        assertTrue(e instanceof ModelNotFoundException || e instanceof ModelFormatException, e.toString());
        assertFalse(e.nativeMessage().isEmpty(), "the native detail is carried verbatim");
        assertTrue(e.getMessage().endsWith(e.nativeMessage()), e.getMessage());
    }

    @Test
    void corruptWeightsAreAFormatError() throws Exception {
        Path dir = TinyModels.random(temp.resolve("corrupt"), 3, DataType.F32);
        Path weights = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length / 2)); // truncated
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(dir));
        assertEquals(BloomStatus.FORMAT, e.status());
        assertEquals(BloomStatus.FORMAT.description() + ": " + e.nativeMessage(), e.getMessage());
        assertTrue(e.nativeMessage().contains("model.safetensors"), e.nativeMessage());
    }

    @Test
    void progressListenerSeesFractionsUpToOne() {
        List<Double> seen = new ArrayList<>();
        try (BloomModel m = BloomModel.load(modelDir, LoadOptions.builder().progress(seen::add).build())) {
            assertFalse(seen.isEmpty());
            for (int i = 1; i < seen.size(); i++) {
                assertTrue(seen.get(i) >= seen.get(i - 1), "non-decreasing: " + seen);
            }
            assertEquals(1.0, seen.get(seen.size() - 1), 1e-6);
            assertEquals(1024, m.info().vocabularySize());
        }
    }

    @Test
    void throwingProgressListenerCancelsTheLoad() {
        var boom = new IllegalStateException("stop loading");
        var options = LoadOptions.builder().memoryMap(false).progress(p -> {
            throw boom;
        }).build();
        var e = assertThrows(CancelledException.class, () -> BloomModel.load(modelDir, options));
        assertSame(boom, e.getCause());
        assertEquals(BloomStatus.CANCELLED, e.status());
    }

    @Test
    void closeIsIdempotentAndUseAfterCloseIsIllegalState() {
        BloomModel m = BloomModel.load(modelDir);
        m.close();
        m.close();
        for (Runnable call : List.<Runnable>of(m::info, () -> m.tokenize("x"), () -> m.decode(new int[] {1}),
                () -> m.tokenStrings(new int[] {1}), m::newSession)) {
            var e = assertThrows(IllegalStateException.class, call::run);
            assertEquals("BloomModel is closed", e.getMessage());
        }
    }

    @Test
    void closingAModelWithOpenSessionsFailsAndSaysHowMany() {
        BloomModel m = BloomModel.load(modelDir);
        BloomSession a = m.newSession(TinyModels.session(32));
        BloomSession b = m.newSession(TinyModels.session(32));
        var e = assertThrows(IllegalStateException.class, m::close);
        assertTrue(e.getMessage().contains("2 sessions"), e.getMessage());
        a.close();
        e = assertThrows(IllegalStateException.class, m::close);
        assertTrue(e.getMessage().contains("1 session is"), e.getMessage());
        // The model is still fully usable after a refused close.
        b.evaluate(m.tokenize("still alive"));
        b.close();
        m.close();
        assertThrows(IllegalStateException.class, m::info);
    }

    @Test
    void exceptionHierarchyIsSealedAndMapsEveryStatus() {
        for (BloomStatus s : BloomStatus.values()) {
            BloomException e = Native.exception(s, "m", "n", null);
            assertSame(s, e.status());
            Class<?> expected = switch (s) {
                case INVALID_ARGUMENT -> InvalidArgumentException.class;
                case IO -> ModelNotFoundException.class;
                case FORMAT, UNSUPPORTED -> ModelFormatException.class;
                case OUT_OF_MEMORY -> BloomOutOfMemoryException.class;
                case CONTEXT_FULL -> ContextFullException.class;
                case CANCELLED -> CancelledException.class;
                case BUSY -> ConcurrentUseException.class;
                case REMOTE -> RemoteDeviceException.class;
                case BUFFER_TOO_SMALL, INTERNAL -> BloomInternalException.class;
            };
            assertInstanceOf(expected, e);
        }
        assertTrue(BloomException.class.isSealed());
        assertSame(BloomStatus.INTERNAL, BloomStatus.of(-12345));
    }

    @Test
    void runtimeReportsVersionAndLibrary() {
        assertTrue(BloomRuntime.version().startsWith("0.1.0"), BloomRuntime.version());
        assertTrue(Files.isRegularFile(BloomRuntime.libraryPath()), BloomRuntime.libraryPath().toString());
        assertEquals(7, BloomRuntime.abiVersion());
    }

    @Test
    void devicesEndWithTheCpu() {
        List<Device> devices = BloomRuntime.devices();
        assertFalse(devices.isEmpty());
        Device cpu = devices.get(devices.size() - 1);
        assertEquals(Device.Type.CPU, cpu.type(), devices.toString());
        assertEquals(devices.size() - 1, cpu.index());
        assertTrue(cpu.memoryTotal() > 0 && cpu.memoryFree() <= cpu.memoryTotal(), cpu.toString());
        assertFalse(cpu.description().isBlank(), cpu.toString());
    }

    @Test
    void gpuLayersFallBackToTheCpuWithoutAGpuAndAreValidated() {
        LoadOptions d = LoadOptions.defaults();
        assertEquals(-1, d.gpuLayers(), "bloom_model_default_params: all layers on a GPU when there is one");
        assertEquals(0, d.mainGpu());
        assertEquals(LoadOptions.SplitMode.NONE, d.splitMode());
        var e = assertThrows(IllegalArgumentException.class, () -> LoadOptions.builder().gpuLayers(-2).build());
        assertTrue(e.getMessage().startsWith("gpuLayers"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LoadOptions.builder().mainGpu(-1).build());
        assertTrue(e.getMessage().startsWith("mainGpu"), e.getMessage());

        boolean gpu = BloomRuntime.devices().stream().anyMatch(x -> x.type() == Device.Type.GPU);
        if (!gpu) {
            // Asking for GPU layers where there is no GPU runs on the CPU (with a logged warning), same logits.
            int[] ids = {1, 2, 3, 4, 5};
            try (BloomModel cpu = BloomModel.load(model.path(), LoadOptions.builder().gpuLayers(0).build());
                 BloomModel asked = BloomModel.load(model.path(), LoadOptions.builder().gpuLayers(2).build())) {
                assertEquals(0, asked.info().gpuLayers());
                assertTrue(asked.info().gpuDevice().isEmpty());
                assertArrayEquals(logits(cpu, ids), logits(asked, ids));
            }
            // A main GPU that does not exist is only an error when a GPU would be used: here nothing is.
            try (BloomModel m = BloomModel.load(model.path(), LoadOptions.builder().mainGpu(3).build())) {
                assertEquals(0, m.info().gpuLayers());
            }
            // Every split mode reaches the library as its bloom_split_mode and loads (on the CPU here).
            for (LoadOptions.SplitMode mode : LoadOptions.SplitMode.values()) {
                try (BloomModel m = BloomModel.load(model.path(), LoadOptions.builder().splitMode(mode).build())) {
                    assertEquals(0, m.info().gpuLayers(), mode.name());
                }
            }
        }
        assertEquals(LoadOptions.SplitMode.LAYER, LoadOptions.SplitMode.of(2));
        assertEquals(LoadOptions.SplitMode.ROW, LoadOptions.SplitMode.of(1));
        assertThrows(BloomInternalException.class, () -> LoadOptions.SplitMode.of(3));
    }

    @Test
    void referenceMeasurementsRunOnTheCpuAndRejectBadInput() {
        Device cpu = BloomRuntime.devices().get(BloomRuntime.devices().size() - 1);
        double gemm = BloomRuntime.measureMatmul(cpu, 64, 16, 128, WeightType.F16, 1, 2);
        double q4 = BloomRuntime.measureMatmul(cpu, 64, 16, 128, WeightType.Q4_0, 1, 1);
        double copy = BloomRuntime.measureCopy(cpu, 1 << 16, 1, 2);
        assertTrue(gemm > 0 && q4 > 0 && copy > 0, gemm + " " + q4 + " " + copy);
        var e = assertThrows(InvalidArgumentException.class,
                () -> BloomRuntime.measureMatmul(cpu, 64, 16, 100, WeightType.Q4_0, 1, 1));
        assertTrue(e.getMessage().contains("block size"), e.getMessage());
        e = assertThrows(InvalidArgumentException.class, () -> BloomRuntime.measureCopy(cpu, 1 << 16, 1, 0));
        assertTrue(e.getMessage().contains("reps"), e.getMessage());
        Device missing = new Device(99, "none", "", Device.Type.GPU, 0, 0);
        e = assertThrows(InvalidArgumentException.class, () -> BloomRuntime.measureCopy(missing, 1 << 16, 1, 1));
        assertTrue(e.getMessage().contains("device index 99"), e.getMessage());
        assertEquals(4L * model.info().parameterCount(), model.info().weightBytes(), "f32 weights: 4 bytes each");
    }

    @Test
    void onAGpuTheLogitsMatchTheCpuWithinF16Tolerance() {
        // Runs only where a GPU is (a CUDA-enabled library on a machine with a driver); skipped elsewhere.
        assumeTrue(BloomRuntime.devices().stream().anyMatch(x -> x.type() == Device.Type.GPU), "no GPU here");
        int[] ids = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
        try (BloomModel cpu = BloomModel.load(model.path(), LoadOptions.builder().gpuLayers(0).build());
             BloomModel gpu = BloomModel.load(model.path(), LoadOptions.builder().gpuLayers(-1).build())) {
            assertEquals(gpu.info().layerCount(), gpu.info().gpuLayers());
            assertTrue(gpu.info().gpuDevice().isPresent());
            float[] a = logits(cpu, ids);
            float[] b = logits(gpu, ids);
            double range = 0, error = 0;
            for (int i = 0; i < a.length; i++) {
                range = Math.max(range, Math.abs(a[i]));
                error = Math.max(error, Math.abs(a[i] - b[i]));
            }
            // cuBLAS multiplies f32 weights with TF32 or f16 inputs at best; f16 tolerance: 2^-11 doubled per layer.
            assertTrue(error / range < 2e-3, "GPU vs CPU: " + error / range + " of the range");
        }
    }

    private static float[] logits(BloomModel m, int[] ids) {
        try (BloomSession s = m.newSession(TinyModels.session(16))) {
            s.evaluate(ids, false);
            return s.logits();
        }
    }
}

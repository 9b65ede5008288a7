package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HF checkpoint -> GGUF through {@link BloomConverter}, loaded back: the same model within the precision of the
 * written type, the tokenizer carried over, and clear errors for bad paths and cancellation.
 */
class ConvertTest {

    @TempDir
    static Path temp;

    static Path hf;

    static final String TEXT = "Once upon a time, in a tiny model, Ünïcödé and 数字 123.";

    @BeforeAll
    static void checkpoint() {
        hf = TinyModels.random(temp.resolve("hf"), 21, DataType.F32);
    }

    /** Logits of every position of {@code ids}, from a fresh session. */
    static float[][] logits(BloomModel model, int[] ids) {
        try (BloomSession s = model.newSession(TinyModels.session(ids.length))) {
            s.evaluate(ids, true);
            return s.logitsAll();
        }
    }

    /** Largest |a - b| over all rows, relative to the range of a's values (the README's measure). */
    static double relativeError(float[][] expected, float[][] actual) {
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        double error = 0;
        assertEquals(expected.length, actual.length);
        for (int r = 0; r < expected.length; r++) {
            assertEquals(expected[r].length, actual[r].length);
            for (int i = 0; i < expected[r].length; i++) {
                min = Math.min(min, expected[r][i]);
                max = Math.max(max, expected[r][i]);
                error = Math.max(error, Math.abs(expected[r][i] - actual[r][i]));
            }
        }
        return error / (max - min);
    }

    /** Converts hf to {@code type} and compares the loaded GGUF with the HF load; returns the relative error. */
    static double roundTrip(FileType type, WeightType expectedWeights) {
        Path gguf = temp.resolve("tiny-" + type.nativeName() + ".gguf");
        BloomConverter.convert(hf, gguf, type);
        try (BloomModel original = BloomModel.load(hf); BloomModel converted = BloomModel.load(gguf)) {
            assertEquals(gguf, converted.path());
            ModelInfo a = original.info();
            ModelInfo b = converted.info();
            assertEquals(expectedWeights, b.weightType(), type.toString());
            assertEquals(a.vocabularySize(), b.vocabularySize());
            assertEquals(a.tokenizerVocabularySize(), b.tokenizerVocabularySize());
            assertEquals(a.layerCount(), b.layerCount());
            assertEquals(a.embeddingSize(), b.embeddingSize());
            assertEquals(a.headCount(), b.headCount());
            assertEquals(a.parameterCount(), b.parameterCount());
            assertEquals(a.layerNormEpsilon(), b.layerNormEpsilon());
            assertEquals(a.bosToken(), b.bosToken());
            assertEquals(a.eosToken(), b.eosToken());
            // The tokenizer travels in the GGUF metadata.
            int[] ids = original.tokenize(TEXT);
            assertArrayEquals(ids, converted.tokenize(TEXT));
            assertEquals(original.decode(ids), converted.decode(ids));
            assertEquals(original.tokenStrings(ids), converted.tokenStrings(ids));
            double error = relativeError(logits(original, ids), logits(converted, ids));
            System.out.printf("HF f32 -> GGUF %s: max logit error %.3g of the logits' range%n", type.nativeName(),
                    error);
            return error;
        }
    }

    @Test
    void f32GgufRunsLikeTheCheckpoint() {
        double error = roundTrip(FileType.F32, WeightType.F32);
        assertTrue(error <= 1e-5, "f32 bound 1e-5, measured " + error);
    }

    @Test
    void halfPrecisionAndQ8GgufStayClose() {
        // Weight rounding: f16 keeps 11 significant bits (2^-11 = 4.9e-4 relative), bf16 8 (3.9e-3); q8_0 keeps
        // 8 bits per block of 32 relative to the block's largest value. Bounds: a few times those.
        double f16 = roundTrip(FileType.F16, WeightType.F16);
        assertTrue(f16 <= 2e-3, "f16 bound 2e-3, measured " + f16);
        double bf16 = roundTrip(FileType.BF16, WeightType.BF16);
        assertTrue(bf16 <= 1e-2, "bf16 bound 1e-2, measured " + bf16);
        double q8 = roundTrip(FileType.Q8_0, WeightType.Q8_0);
        assertTrue(q8 <= 2e-2, "q8_0 bound 2e-2, measured " + q8);
    }

    @Test
    void q4WeightsAreRepackedForTheCpuKernelsAndComputeTheSameFunction() {
        Path gguf = temp.resolve("tiny-repack-q4_0.gguf");
        BloomConverter.convert(hf, gguf, FileType.Q4_0);
        int[] ids = {5, 17, 300, 2, 999, 41, 7, 7, 64, 128, 256, 511, 3};
        try (BloomModel plain = BloomModel.load(gguf, LoadOptions.builder().repack(false).build());
             BloomModel repacked = BloomModel.load(gguf);
             BloomModel f32 = BloomModel.load(hf)) {
            assertEquals(0, plain.info().repackedMatrices());
            assertEquals(0, f32.info().repackedMatrices(), "ggml has no repacked f32 kernels on x86");
            // The AVX2 and AVX-512 libraries repack Q4_0 into 8x8 interleaved blocks: every layer's four matrices (the
            // embedding table, read by get_rows and tied to the output, stays in place).
            if (BloomRuntime.libraryVariant().orElse("").matches("x86-64-v[34].*")) {
                assertEquals(4 * repacked.info().layerCount(), repacked.info().repackedMatrices());
            }
            // The interleaved kernels round the activations to 8-bit blocks like the plain ones, but sum in another
            // order: the same function up to those rounding steps, far below the quantization's own ~1e-1.
            double error = relativeError(logits(plain, ids), logits(repacked, ids));
            System.out.printf("q4_0 repacked vs stored layout: max logit error %.3g of the range (%d matrices)%n",
                    error, repacked.info().repackedMatrices());
            assertTrue(error < 2e-2, "repacked q4_0 differs by " + error);
        }
    }

    @Test
    void requantizingAGgufEqualsConvertingTheCheckpoint() {
        Path f32 = temp.resolve("requant-f32.gguf");
        Path direct = temp.resolve("requant-direct-q8_0.gguf");
        Path viaGguf = temp.resolve("requant-via-q8_0.gguf");
        BloomConverter.convert(hf, f32, FileType.F32);
        BloomConverter.convert(hf, direct, FileType.Q8_0);
        BloomConverter.convert(f32, viaGguf, ConvertOptions.builder().fileType(FileType.Q8_0).threads(1).build());
        try (BloomModel a = BloomModel.load(direct); BloomModel b = BloomModel.load(viaGguf)) {
            assertEquals(WeightType.Q8_0, b.info().weightType());
            int[] ids = a.tokenize(TEXT);
            // The same f32 values quantized the same way: identical weights, identical logits.
            float[][] x = logits(a, ids);
            float[][] y = logits(b, ids);
            for (int r = 0; r < x.length; r++) {
                assertArrayEquals(x[r], y[r], "row " + r);
            }
        }
    }

    @Test
    void everyFileTypeConvertsAndLoads() {
        // The tiny model's rows (64 wide) are too short for the 256-wide K-quant blocks everywhere; whatever the
        // converter does about that (llama-quantize falls back to a legacy type per tensor), the file must load
        // and run.
        for (FileType type : FileType.values()) {
            Path gguf = temp.resolve("all-" + type.nativeName() + ".gguf");
            try {
                BloomConverter.convert(hf, gguf, type);
            } catch (BloomException e) {
                throw new AssertionError(type + ": " + e.getMessage(), e);
            }
            try (BloomModel m = BloomModel.load(gguf)) {
                float[][] rows = logits(m, m.tokenize("Hello world"));
                for (float v : rows[rows.length - 1]) {
                    assertTrue(Float.isFinite(v), type + " gives finite logits");
                }
            }
        }
    }

    @Test
    void progressIsReportedAndAThrowingListenerCancels() throws IOException {
        List<Double> seen = new ArrayList<>();
        Path out = temp.resolve("progress.gguf");
        BloomConverter.convert(hf, out, ConvertOptions.builder().fileType(FileType.Q8_0).progress(seen::add).build());
        assertFalse(seen.isEmpty());
        assertEquals(1.0, seen.get(seen.size() - 1), 1e-6);
        for (int i = 1; i < seen.size(); i++) {
            assertTrue(seen.get(i) >= seen.get(i - 1), "progress never goes back: " + seen);
        }

        Path cancelledDir = Files.createDirectories(temp.resolve("cancelled"));
        Path cancelled = cancelledDir.resolve("model.gguf");
        var e = assertThrows(CancelledException.class, () -> BloomConverter.convert(hf, cancelled,
                ConvertOptions.builder().fileType(FileType.F16).progress(p -> {
                    throw new IllegalStateException("user pressed stop");
                }).build()));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertTrue(e.getMessage().contains("progress listener threw"), e.getMessage());
        try (Stream<Path> left = Files.list(cancelledDir)) {
            assertEquals(List.of(), left.toList(), "no partial or temporary file is left");
        }
    }

    @Test
    void badPathsAreClearErrors() throws IOException {
        Path missing = temp.resolve("no-such-model");
        var e1 = assertThrows(ModelNotFoundException.class,
                () -> BloomConverter.convert(missing, temp.resolve("x.gguf"), FileType.F16));
        assertTrue(e1.getMessage().contains("no-such-model"), e1.getMessage());

        var e2 = assertThrows(ModelNotFoundException.class,
                () -> BloomConverter.convert(hf, temp.resolve("no-dir").resolve("x.gguf"), FileType.F16));
        assertTrue(e2.getMessage().contains("output directory does not exist") && e2.getMessage().contains("no-dir"),
                e2.getMessage());

        var e3 = assertThrows(IllegalArgumentException.class, () -> BloomConverter.convert(hf, temp, FileType.F16));
        assertTrue(e3.getMessage().contains("is a directory"), e3.getMessage());

        Path gguf = temp.resolve("self.gguf");
        BloomConverter.convert(hf, gguf, FileType.F32);
        var e4 = assertThrows(IllegalArgumentException.class, () -> BloomConverter.convert(gguf, gguf, FileType.Q8_0));
        assertTrue(e4.getMessage().contains("is the input itself"), e4.getMessage());

        // /proc takes no new files, not even from root: the native writer reports it.
        Path unwritable = Path.of("/proc/bloom4j-convert-test.gguf");
        var e5 = assertThrows(ModelNotFoundException.class, () -> BloomConverter.convert(hf, unwritable, FileType.F16));
        assertTrue(e5.getMessage().contains("bloom4j-convert-test"), e5.getMessage());

        Path garbage = Files.write(temp.resolve("garbage.gguf"), "GGUF but not really".getBytes());
        assertThrows(ModelFormatException.class,
                () -> BloomConverter.convert(garbage, temp.resolve("from-garbage.gguf"), FileType.F16));
        assertFalse(Files.exists(temp.resolve("from-garbage.gguf")));

        Path noTokenizer = TinyModels.random(temp.resolve("no-tokenizer"), 1, DataType.F32);
        Files.delete(noTokenizer.resolve("tokenizer.json"));
        var e6 = assertThrows(ModelNotFoundException.class,
                () -> BloomConverter.convert(noTokenizer, temp.resolve("nt.gguf"), FileType.F16));
        assertTrue(e6.getMessage().contains("tokenizer.json"), e6.getMessage());
    }

    @Test
    void optionsValidateAndDefaultToTheNativeParams() {
        ConvertOptions d = ConvertOptions.defaults();
        assertEquals(FileType.F16, d.fileType(), "bloom_convert_default_params: BLOOM_FTYPE_F16");
        assertEquals(0, d.threads());
        assertEquals(FileType.Q4_K_M, ConvertOptions.of(FileType.Q4_K_M).fileType());
        var e = assertThrows(IllegalArgumentException.class, () -> ConvertOptions.builder().threads(-1).build());
        assertTrue(e.getMessage().contains("threads"), e.getMessage());
        assertThrows(NullPointerException.class, () -> ConvertOptions.builder().fileType(null).build());
    }
}

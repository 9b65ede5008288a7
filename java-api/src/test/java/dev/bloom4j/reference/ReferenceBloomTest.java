package dev.bloom4j.reference;

import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import dev.bloom4j.checkpoint.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Properties of the reference itself: layout independence, exact decoding of what the writer stored, the head
 * choice, causality and input validation. Shape used: vocabulary 97, hidden 24, 2 blocks, 6 heads (not a power of
 * two, head width 4).
 */
class ReferenceBloomTest {

    private static final BloomConfig CONFIG = BloomConfig.of(97, 24, 2, 6);
    private static final int[] IDS = {5, 17, 3, 42, 8, 96, 0};

    @TempDir
    Path temp;

    private RandomCheckpoint.Builder model() {
        return RandomCheckpoint.builder(CONFIG).seed(1234).noTokenizer();
    }

    @Test
    void layoutDoesNotChangeLogits() throws IOException {
        double[][] single = ReferenceBloom.load(model().build().writeTo(temp.resolve("single"))).logits(IDS);
        double[][] shardedPrefixed = ReferenceBloom.load(model().shards(3).transformerPrefix(true).build()
                .writeTo(temp.resolve("sharded-prefixed"))).logits(IDS);
        double[][] prefixed = ReferenceBloom.load(model().transformerPrefix(true)
                .keyStyle(BloomConfig.KeyStyle.CURRENT).build().writeTo(temp.resolve("prefixed"))).logits(IDS);
        double[][] sharded = ReferenceBloom.load(model().shards(7).build().writeTo(temp.resolve("sharded")))
                .logits(IDS);
        // Same stored values and the same arithmetic in the same order: equality is exact.
        for (int t = 0; t < IDS.length; t++) {
            assertArrayEquals(single[t], shardedPrefixed[t], 0, "sharded+prefixed, position " + t);
            assertArrayEquals(single[t], prefixed[t], 0, "prefixed, current keys, position " + t);
            assertArrayEquals(single[t], sharded[t], 0, "7 shards, position " + t);
        }
    }

    @ParameterizedTest
    @EnumSource(DataType.class)
    void readsBackExactlyWhatWasStored(DataType type) throws IOException {
        RandomCheckpoint checkpoint = model().dataType(type).shards(2).transformerPrefix(true).tiedLmHead(false)
                .build();
        ReferenceBloom reference = ReferenceBloom.load(checkpoint.writeTo(temp.resolve(type.name())));
        assertTrue(reference.hasSeparateLmHead());
        for (String name : checkpoint.tensorNames()) {
            float[] stored = checkpoint.weight(name);
            double[] read = reference.parameter(name);
            assertArrayEquals(checkpoint.shape(name), reference.parameterShape(name), name);
            assertEquals(stored.length, read.length, name);
            for (int i = 0; i < stored.length; i++) {
                if (stored[i] != read[i]) {
                    throw new AssertionError(name + "[" + i + "]: stored " + stored[i] + ", read " + read[i]);
                }
            }
        }
    }

    @Test
    void storageTypeChangesTheWeightsSeen() throws IOException {
        double[][] f32 = ReferenceBloom.load(model().build().writeTo(temp.resolve("f32"))).logits(IDS);
        double[][] bf16 = ReferenceBloom.load(model().dataType(DataType.BF16).build().writeTo(temp.resolve("bf16")))
                .logits(IDS);
        double maxDifference = 0;
        for (int t = 0; t < IDS.length; t++) {
            for (int v = 0; v < CONFIG.vocabSize(); v++) {
                maxDifference = Math.max(maxDifference, Math.abs(f32[t][v] - bf16[t][v]));
            }
        }
        // bf16 keeps 8 mantissa bits: logits move, but only by a few percent of their spread (~2).
        assertTrue(maxDifference > 1e-4 && maxDifference < 0.5, "max |f32 - bf16| = " + maxDifference);
    }

    @Test
    void tiedHeadUsesEmbeddings() throws IOException {
        ReferenceBloom reference = ReferenceBloom.load(model().build().writeTo(temp.resolve("tied")));
        assertFalse(reference.hasSeparateLmHead());
        assertLogitsAreProjection(reference, reference.parameter("word_embeddings.weight"));
    }

    @Test
    void untiedHeadUsesLmHeadWeight() throws IOException {
        RandomCheckpoint checkpoint = model().tiedLmHead(false).build();
        ReferenceBloom reference = ReferenceBloom.load(checkpoint.writeTo(temp.resolve("untied")));
        float[] head = checkpoint.weight(RandomCheckpoint.LM_HEAD_WEIGHT);
        double[] widened = new double[head.length];
        for (int i = 0; i < head.length; i++) {
            widened[i] = head[i];
        }
        assertLogitsAreProjection(reference, widened);
    }

    private static void assertLogitsAreProjection(ReferenceBloom reference, double[] head) {
        double[][] hidden = reference.finalHiddenStates(IDS);
        double[][] logits = reference.logits(IDS);
        int size = reference.hiddenSize();
        for (int t = 0; t < IDS.length; t++) {
            for (int v = 0; v < reference.vocabSize(); v++) {
                double expected = 0;
                for (int c = 0; c < size; c++) {
                    expected += hidden[t][c] * head[v * size + c];
                }
                assertEquals(expected, logits[t][v], 1e-12, "logit[" + t + "][" + v + "]");
            }
        }
    }

    @Test
    void laterTokensDoNotChangeEarlierLogits() throws IOException {
        ReferenceBloom reference = ReferenceBloom.load(model().build().writeTo(temp.resolve("causal")));
        double[][] a = reference.logits(new int[] {5, 17, 3, 42, 8});
        double[][] b = reference.logits(new int[] {5, 17, 3, 11, 60});
        for (int t = 0; t < 3; t++) {
            assertArrayEquals(a[t], b[t], 0, "position " + t + " precedes the change");
        }
        assertFalse(Arrays.equals(a[3], b[3]), "position 3 sees the changed token");
        // A prefix computed alone gives the same rows as inside a longer sequence.
        double[][] prefix = reference.logits(new int[] {5, 17, 3});
        for (int t = 0; t < 3; t++) {
            assertArrayEquals(a[t], prefix[t], 0, "prefix position " + t);
        }
    }

    @Test
    void earlierTokensDoChangeLaterLogits() throws IOException {
        // Guards the mask direction: a mask that hid the past would make the last row depend on its own token only.
        ReferenceBloom reference = ReferenceBloom.load(model().build().writeTo(temp.resolve("past")));
        double[] a = reference.lastLogits(new int[] {5, 17, 3});
        double[] b = reference.lastLogits(new int[] {6, 17, 3});
        assertFalse(Arrays.equals(a, b));
    }

    @Test
    void residualFlagIsHonoured() throws IOException {
        BloomConfig post = CONFIG.withApplyResidualConnectionPostLayernorm(true);
        ReferenceBloom before = ReferenceBloom.load(model().build().writeTo(temp.resolve("before")));
        ReferenceBloom after = ReferenceBloom.load(RandomCheckpoint.builder(post).seed(1234).noTokenizer().build()
                .writeTo(temp.resolve("after")));
        assertTrue(after.applyResidualConnectionPostLayernorm());
        assertFalse(before.applyResidualConnectionPostLayernorm());
        assertFalse(Arrays.equals(before.lastLogits(IDS), after.lastLogits(IDS)));
    }

    @Test
    void readsBothConfigKeySpellings() throws IOException {
        for (BloomConfig.KeyStyle style : BloomConfig.KeyStyle.values()) {
            ReferenceBloom reference = ReferenceBloom.load(model().keyStyle(style).build()
                    .writeTo(temp.resolve(style.name())));
            assertEquals(24, reference.hiddenSize(), style.name());
            assertEquals(6, reference.headCount(), style.name());
            assertEquals(2, reference.layerCount(), style.name());
            assertEquals(97, reference.vocabSize(), style.name());
            assertEquals(1e-5, reference.layerNormEpsilon(), 0, style.name());
        }
    }

    @Test
    void rejectsOutOfRangeToken() throws IOException {
        ReferenceBloom reference = ReferenceBloom.load(model().build().writeTo(temp.resolve("ids")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> reference.logits(new int[] {1, 97}));
        assertTrue(e.getMessage().contains("token id 97 at position 1"), e.getMessage());
    }

    @Test
    void reportsIndexThatDisagreesWithShards() throws IOException {
        Path dir = model().shards(2).build().writeTo(temp.resolve("index"));
        // The index no longer maps ln_f.bias, which a shard still holds.
        Path index = dir.resolve(SafetensorsWriter.INDEX_FILE_NAME);
        String text = Files.readString(index);
        assertTrue(text.contains("\"ln_f.bias\""));
        IOException e = assertThrows(IOException.class, () -> {
            Files.writeString(index, text.replace("\"ln_f.bias\"", "\"ln_f.bias_renamed\""));
            ReferenceBloom.load(dir);
        });
        assertTrue(e.getMessage().contains("ln_f.bias"), e.getMessage());
    }

    @Test
    void namesMissingFiles() {
        IOException e = assertThrows(IOException.class, () -> ReferenceBloom.load(temp));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    @Test
    void namesTensorWithWrongShape() throws IOException {
        // A config that claims more layers than the weights hold.
        Path dir = model().build().writeTo(temp.resolve("shape"));
        BloomConfig.of(97, 24, 3, 6).write(dir, BloomConfig.KeyStyle.LEGACY, DataType.F32, Map.of());
        IOException e = assertThrows(IOException.class, () -> ReferenceBloom.load(dir));
        assertTrue(e.getMessage().contains("missing tensor h.2.input_layernorm.weight"), e.getMessage());

        BloomConfig.of(98, 24, 2, 6).write(dir, BloomConfig.KeyStyle.LEGACY, DataType.F32, Map.of());
        e = assertThrows(IOException.class, () -> ReferenceBloom.load(dir));
        assertTrue(e.getMessage().contains("word_embeddings.weight has shape [97, 24], expected [98, 24]"),
                e.getMessage());
    }

    @Test
    void halfDecodingIsFieldExact() {
        assertEquals(1.0, CheckpointFiles.halfToDouble(0x3C00), 0);
        assertEquals(-2.0, CheckpointFiles.halfToDouble(0xC000), 0);
        assertEquals(65504.0, CheckpointFiles.halfToDouble(0x7BFF), 0);
        assertEquals(Math.scalb(1.0, -24), CheckpointFiles.halfToDouble(0x0001), 0);
        assertEquals(Math.scalb(1023.0, -24), CheckpointFiles.halfToDouble(0x03FF), 0);
        assertEquals(Math.scalb(1.0, -14), CheckpointFiles.halfToDouble(0x0400), 0);
        assertEquals(Double.POSITIVE_INFINITY, CheckpointFiles.halfToDouble(0x7C00), 0);
        assertTrue(Double.isNaN(CheckpointFiles.halfToDouble(0x7E00)));
        assertEquals(0.333251953125, CheckpointFiles.halfToDouble(0x3555), 0);
    }
}

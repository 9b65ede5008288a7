package dev.bloom4j.reference;

import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.SafetensorsWriter;
import dev.bloom4j.checkpoint.TensorData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A BLOOM small enough to check by hand: vocabulary 4, hidden size 2, one block, two heads of width 1, layer-norm
 * epsilon 0.25, all weights short binary fractions (exact in F32), tokens [1, 2, 3].
 *
 * <p>Two heads of width 1 make the per-head [q, k, v] interleave of the fused projection and the per-head ALiBi
 * slopes (2^-4 and 2^-8) matter; the large epsilon keeps the two-element layer norms, whose output is
 * {@code ±d/sqrt(d²+eps)} with {@code d = (x0-x1)/2}, from saturating to ±1, so every stage moves the logits.
 *
 * <p>The expected logits were computed separately by a 40-line plain-Python script (no numpy) that spells each
 * step out for this shape: the two-element layer norm in closed form, head {@code n}'s q/k/v as rows 3n, 3n+1,
 * 3n+2 of the fused weight, scores {@code q_i·k_j + slope_n·j} over {@code j <= i}, tanh GELU with 0.79788456 and
 * 0.044715, residual taken before (first table) or after (second table) each layer norm, tied head. Tolerance
 * 1e-12 absolute: both sides compute in double, so only rounding-order noise (~1e-15) separates them.
 */
class TinyHandComputedTest {

    private static final int[] IDS = {1, 2, 3};

    private static final double[][] EXPECTED_RESIDUAL_BEFORE_NORM = {
            {-0.6856899042944193, -0.9228278851533032, -2.5184836554599097, 0.45498293300609355},
            {1.719004043153373, 1.9628048517840475, 6.138414555352143, -1.2283028302073613},
            {1.4366436015299922, 1.6239723218359907, 5.121916965507972, -1.0306505210709944},
    };

    private static final double[][] EXPECTED_RESIDUAL_AFTER_NORM = {
            {1.4583311512578863, 1.6499973815094635, 5.19999214452839, -1.0458318058805203},
            {1.4430177046022383, 1.6316212455226862, 5.144863736568058, -1.0351123932215667},
            {1.4784413977647923, 1.674129677317751, 5.272389031953253, -1.0599089784353546},
    };

    @TempDir
    Path temp;

    @Test
    void logitsMatchHandComputationWithResidualBeforeNorm() throws IOException {
        Path dir = writeTinyModel(temp.resolve("pre"), false);
        assertLogits(EXPECTED_RESIDUAL_BEFORE_NORM, ReferenceBloom.load(dir).logits(IDS));
    }

    @Test
    void logitsMatchHandComputationWithResidualAfterNorm() throws IOException {
        Path dir = writeTinyModel(temp.resolve("post"), true);
        assertLogits(EXPECTED_RESIDUAL_AFTER_NORM, ReferenceBloom.load(dir).logits(IDS));
    }

    private static void assertLogits(double[][] expected, double[][] actual) {
        assertEquals(expected.length, actual.length, "positions");
        for (int t = 0; t < expected.length; t++) {
            assertEquals(expected[t].length, actual[t].length, "vocabulary at position " + t);
            for (int v = 0; v < expected[t].length; v++) {
                assertEquals(expected[t][v], actual[t][v], 1e-12, "logit[" + t + "][" + v + "]");
            }
        }
    }

    private static Path writeTinyModel(Path dir, boolean residualAfterNorm) throws IOException {
        BloomConfig config = BloomConfig.of(4, 2, 1, 2).withLayerNormEpsilon(0.25)
                .withApplyResidualConnectionPostLayernorm(residualAfterNorm);
        config.write(dir, BloomConfig.KeyStyle.CURRENT, DataType.F32, Map.of());
        List<TensorData> tensors = List.of(
                t("word_embeddings.weight", new int[] {4, 2}, 1, 0, 0, 2, 3, 1, -1, 0.5f),
                t("word_embeddings_layernorm.weight", new int[] {2}, 1, 2),
                t("word_embeddings_layernorm.bias", new int[] {2}, 0.5f, -0.25f),
                t("h.0.input_layernorm.weight", new int[] {2}, 1.5f, 0.5f),
                t("h.0.input_layernorm.bias", new int[] {2}, 0, 0.25f),
                // Rows: head 0 q, k, v, then head 1 q, k, v.
                t("h.0.self_attention.query_key_value.weight", new int[] {6, 2},
                        1, 0.5f, 0.5f, -1, 2, 0, 0, 1, 1, 0.25f, -1, 1),
                t("h.0.self_attention.query_key_value.bias", new int[] {6}, 0.125f, 0, 0.5f, 0, 0.25f, -0.5f),
                t("h.0.self_attention.dense.weight", new int[] {2, 2}, 1, -0.5f, 0.25f, 1),
                t("h.0.self_attention.dense.bias", new int[] {2}, 0.125f, -0.125f),
                t("h.0.post_attention_layernorm.weight", new int[] {2}, 0.75f, 1.25f),
                t("h.0.post_attention_layernorm.bias", new int[] {2}, 0.0625f, -0.5f),
                t("h.0.mlp.dense_h_to_4h.weight", new int[] {8, 2},
                        1, 0, 0, 1, 1, 1, -1, 0.5f, 0.5f, -2, 2, 0.25f, -0.75f, -0.5f, 0.25f, 0.125f),
                t("h.0.mlp.dense_h_to_4h.bias", new int[] {8}, 0, 0.5f, -0.5f, 0.25f, 0, 0.125f, -0.25f, 1),
                t("h.0.mlp.dense_4h_to_h.weight", new int[] {2, 8},
                        0.5f, -0.25f, 0.125f, 1, 0, -0.5f, 0.75f, 0.25f,
                        -0.125f, 0.5f, 0.25f, -1, 0.5f, 0.25f, 0, -0.75f),
                t("h.0.mlp.dense_4h_to_h.bias", new int[] {2}, 0.25f, -0.0625f),
                t("ln_f.weight", new int[] {2}, 1.25f, -0.75f),
                t("ln_f.bias", new int[] {2}, 0.5f, 0.25f));
        SafetensorsWriter.write(dir.resolve(SafetensorsWriter.SINGLE_FILE_NAME), tensors, DataType.F32);
        return dir;
    }

    private static TensorData t(String name, int[] shape, float... values) {
        return new TensorData(name, shape, values);
    }
}

package dev.bloom4j.checkpoint;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** config.json text in both key spellings, and the Python formatting it depends on. */
class BloomConfigTest {

    @Test
    void legacyKeysAsInBigScienceUploads() {
        String json = BloomConfig.of(1024, 64, 2, 4).withSequenceLength(512)
                .toJson(BloomConfig.KeyStyle.LEGACY, DataType.F32, Map.of());
        assertEquals("""
                {
                  "apply_residual_connection_post_layernorm": false,
                  "architectures": [
                    "BloomForCausalLM"
                  ],
                  "attention_dropout": 0.0,
                  "attention_softmax_in_fp32": true,
                  "bias_dropout_fusion": true,
                  "bos_token_id": 1,
                  "eos_token_id": 2,
                  "hidden_dropout": 0.0,
                  "initializer_range": 0.02,
                  "layer_norm_epsilon": 1e-05,
                  "masked_softmax_fusion": true,
                  "model_type": "bloom",
                  "n_embed": 64,
                  "n_inner": null,
                  "n_layer": 2,
                  "num_attention_heads": 4,
                  "offset_alibi": 100,
                  "pad_token_id": 3,
                  "pretraining_tp": 1,
                  "seq_length": 512,
                  "skip_bias_add": true,
                  "skip_bias_add_qkv": false,
                  "slow_but_exact": false,
                  "torch_dtype": "float32",
                  "transformers_version": "4.20.0",
                  "unk_token_id": 0,
                  "use_cache": true,
                  "vocab_size": 1024
                }
                """, json);
    }

    @Test
    void currentKeysAsSavePretrainedWrites() {
        String json = new BloomConfig(250880, 1024, 24, 16, 1e-5, true, 2048, 1, 2, 3, 0)
                .toJson(BloomConfig.KeyStyle.CURRENT, DataType.BF16, Map.of("bloom4j_note", "caf\u00e9"));
        assertEquals("""
                {
                  "apply_residual_connection_post_layernorm": true,
                  "architectures": [
                    "BloomForCausalLM"
                  ],
                  "attention_dropout": 0.0,
                  "bloom4j_note": "caf\\u00e9",
                  "bos_token_id": 1,
                  "eos_token_id": 2,
                  "hidden_dropout": 0.0,
                  "hidden_size": 1024,
                  "initializer_range": 0.02,
                  "layer_norm_epsilon": 1e-05,
                  "model_type": "bloom",
                  "n_head": 16,
                  "n_layer": 24,
                  "pad_token_id": 3,
                  "pretraining_tp": 1,
                  "seq_length": 2048,
                  "slow_but_exact": false,
                  "torch_dtype": "bfloat16",
                  "transformers_version": "4.45.2",
                  "unk_token_id": 0,
                  "use_cache": true,
                  "vocab_size": 250880
                }
                """, json);
    }

    @Test
    void pythonFloatRepr() {
        // Each expected string is what CPython 3 prints for repr() of the same double.
        Map<Double, String> cases = Map.ofEntries(
                Map.entry(1e-5, "1e-05"), Map.entry(0.02, "0.02"), Map.entry(0.0, "0.0"), Map.entry(-0.0, "-0.0"),
                Map.entry(1e-4, "0.0001"), Map.entry(1e16, "1e+16"), Map.entry(1e15, "1000000000000000.0"),
                Map.entry(1234.5, "1234.5"), Map.entry(1.5e-7, "1.5e-07"), Map.entry(-0.25, "-0.25"),
                Map.entry(123456789.125, "123456789.125"), Map.entry(1e22, "1e+22"), Map.entry(0.1, "0.1"),
                Map.entry(Double.MIN_VALUE, "5e-324"), Map.entry(1e-323, "1e-323"),
                Map.entry(3 * Double.MIN_VALUE, "1.5e-323"), Map.entry(Double.MAX_VALUE, "1.7976931348623157e+308"),
                Map.entry(1.0 / 3, "0.3333333333333333"), Map.entry(2.5e-100, "2.5e-100"), Map.entry(100.0, "100.0"));
        cases.forEach((value, expected) -> assertEquals(expected, PythonJson.pythonFloatRepr(value), "repr " + value));
        assertThrows(IllegalArgumentException.class, () -> PythonJson.pythonFloatRepr(Double.NaN));
    }

    @Test
    void pythonIndentedNesting() {
        Map<String, Object> value = new java.util.LinkedHashMap<>();
        value.put("z", List.of());
        value.put("a", Map.of());
        value.put("m", List.of(1, List.of("x\n\"y\""), Map.of("k", false)));
        assertEquals("""
                {
                  "a": {},
                  "m": [
                    1,
                    [
                      "x\\n\\"y\\""
                    ],
                    {
                      "k": false
                    }
                  ],
                  "z": []
                }""", PythonJson.pythonIndented(value));
    }

    @Test
    void rejectsInconsistentShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.of(100, 30, 2, 4));
        assertTrue(e.getMessage().contains("hiddenSize 30 is not divisible by headCount 4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.of(3, 8, 1, 1));
        assertTrue(e.getMessage().contains("padTokenId 3 is outside the vocabulary [0, 3)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.of(10, 8, 0, 1));
        assertTrue(e.getMessage().contains("layerCount must be positive, got 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.of(10, 8, 1, 1).withLayerNormEpsilon(0));
        assertTrue(e.getMessage().contains("layerNormEpsilon"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BloomConfig.of(10, 8, 1, 1)
                .toJson(BloomConfig.KeyStyle.CURRENT, DataType.F32, Map.of("n_head", 3)));
        assertTrue(e.getMessage().contains("\"n_head\" collides"), e.getMessage());
    }
}

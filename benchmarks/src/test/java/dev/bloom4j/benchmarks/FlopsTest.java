package dev.bloom4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link Flops} against counts worked out by hand for bigscience/bloom-560m, whose config.json says n_layer = 24,
 * hidden_size = 1024, n_head = 16, vocab_size = 250880. The expected values are written as literals, not as the
 * formula again, so that a wrong factor in Flops fails here.
 */
class FlopsTest {

    private static final Flops.Shape BLOOM_560M = Flops.Shape.BLOOM_560M;

    /**
     * The published parameter count of bloom-560m is 559,214,592 (Hugging Face model card). By hand, E = 1024:
     * <pre>
     *   word embeddings           V·E = 250880·1024              = 256,901,120
     *   embedding layer norm      2·E                            =       2,048
     *   per layer: qkv 3E² + 3E, dense E² + E, h_to_4h 4E² + 4E, 4h_to_h 4E² + E, two layer norms 4E
     *                             12·E² + 13·E = 12,582,912 + 13,312 = 12,596,224
     *   24 layers                 24 · 12,596,224                = 302,309,376
     *   final layer norm          2·E                            =       2,048
     *   total                                                    = 559,214,592
     * </pre>
     * Matching it shows the shape (and hence the 12·E² of matrices per layer) is BLOOM's.
     */
    @Test
    void parameterCountOfBloom560mMatchesThePublishedOne() {
        assertEquals(559_214_592L, BLOOM_560M.parameterCount());
        // 12·E²·L = 12 · 1,048,576 · 24
        assertEquals(301_989_888L, BLOOM_560M.matrixParameterCount());
    }

    /**
     * <pre>
     *   weight matmuls   2 · 12·E²·L = 2 · 301,989,888       = 603,979,776
     *   lm_head          2 · V·E     = 2 · 250,880 · 1,024   = 513,802,240
     *   attention/key    (2·E for QKᵀ + 2·E for A·V) · L = 4 · 1,024 · 24 = 98,304
     * </pre>
     */
    @Test
    void perTokenTermsOfBloom560m() {
        assertEquals(603_979_776L, Flops.weightMatmulsPerToken(BLOOM_560M));
        assertEquals(513_802_240L, Flops.lmHeadPerPosition(BLOOM_560M));
        assertEquals(98_304L, Flops.attentionPerKey(BLOOM_560M));
    }

    /**
     * Decode at context 128: the token attends to 128 cached keys plus its own, 129.
     * <pre>
     *   603,979,776 + 513,802,240 + 98,304 · 129 = 1,117,782,016 + 12,681,216 = 1,130,463,232
     * </pre>
     */
    @Test
    void decodeAtContext128OfBloom560m() {
        assertEquals(1_130_463_232L, Flops.decode(BLOOM_560M, 128));
    }

    /**
     * Prefill of 512 tokens, logits for the last only. Token i sees i keys: 512·513/2 = 131,328 key visits. The
     * last layer's MLP (2·8·1024² = 16,777,216 per token) runs for the last token only: 511 of them are not done.
     * <pre>
     *   512 · 603,979,776          = 309,237,645,312
     *   − 511 · 16,777,216         =  −8,573,157,376
     *   lm_head once               =     513,802,240
     *   98,304 · 131,328           =  12,910,067,712
     *   total                      = 314,088,357,888
     * </pre>
     * And 128 tokens: 128 · 603,979,776 − 127 · 16,777,216 + 513,802,240 + 98,304 · (128·129/2 = 8,256)
     * = 77,309,411,328 − 2,130,706,432 + 513,802,240 + 811,597,824 = 76,504,104,960.
     */
    @Test
    void prefillOfBloom560m() {
        assertEquals(314_088_357_888L, Flops.prefill(BLOOM_560M, 512));
        assertEquals(76_504_104_960L, Flops.prefill(BLOOM_560M, 128));
    }

    /** A one-token prefill is a decode at context 0; prefill after a cache counts the cached keys for every token. */
    @Test
    void prefillAndDecodeAgree() {
        assertEquals(Flops.decode(BLOOM_560M, 0), Flops.prefill(BLOOM_560M, 1));
        assertEquals(Flops.decode(BLOOM_560M, 300), Flops.prefill(BLOOM_560M, 300, 1));
        // Two tokens after 10 cached: they see 11 and 12 keys; one lm_head; the first skips the last layer's MLP.
        long expected = 2 * 603_979_776L - 16_777_216L + 513_802_240L + 98_304L * (11 + 12);
        assertEquals(expected, Flops.prefill(BLOOM_560M, 10, 2));
    }

    /**
     * The class comment claims the uncounted elementwise work is ~0.4 % of the matmuls for bloom-560m at 512 keys:
     * per layer 59·E + 7·16·512 = 60,416 + 57,344 = 117,760, times 24, plus 16·E = 2,842,624 operations against
     * 603,979,776 + 98,304·512 = 654,311,424 matmul FLOPs (lm_head excluded): 0.43 %.
     */
    @Test
    void elementwiseTermsAreSmall() {
        long elementwise = Flops.elementwisePerToken(BLOOM_560M, 512);
        assertEquals(2_842_624L, elementwise);
        double share = (double) elementwise / (Flops.weightMatmulsPerToken(BLOOM_560M) + 512 * Flops.attentionPerKey(BLOOM_560M));
        assertTrue(share < 0.005, "elementwise share " + share);
    }

    @Test
    void badSizesAreRejectedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> Flops.prefill(BLOOM_560M, 0));
        assertTrue(e.getMessage().contains("tokens"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Flops.decode(BLOOM_560M, -1));
        assertTrue(e.getMessage().contains("context"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Flops.Shape(24, 1000, 16, 250880));
        assertTrue(e.getMessage().contains("headCount"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Flops.Shape(0, 1024, 16, 250880));
        assertTrue(e.getMessage().contains("layerCount"), e.getMessage());
    }

    @Test
    void overflowIsAnErrorNotAWrongCount() {
        var huge = new Flops.Shape(Integer.MAX_VALUE, 1 << 20, 1, 1);
        assertThrows(ArithmeticException.class, () -> Flops.prefill(huge, Integer.MAX_VALUE));
    }
}

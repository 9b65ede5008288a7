package dev.bloom4j.reference;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ALiBi slopes against values worked out by hand from HF's {@code build_alibi_tensor}: with {@code p} the largest
 * power of two {@code <= n}, base = 2^(-2^-(log2(p)-3)) = 2^(-8/p), slopes base^1..base^p; if {@code n > p}, the
 * extra heads use 2^(-4/p) raised to 1, 3, 5, ....
 */
class AlibiSlopesTest {

    /** Powers of two are exact in double, so these compare with tolerance 0. */
    @Test
    void fourHeads() {
        // p = 4: base 2^-2.
        assertArrayEquals(new double[] {0.25, 0.0625, 0.015625, 0.00390625}, ReferenceBloom.alibiSlopes(4), 0);
    }

    @Test
    void eightHeads() {
        // p = 8: base 2^-1.
        assertArrayEquals(new double[] {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625},
                ReferenceBloom.alibiSlopes(8), 0);
    }

    @Test
    void sixHeadsIsNotAPowerOfTwo() {
        // p = 4 gives 2^-2, 2^-4, 2^-6, 2^-8; the two extra heads take 2^-1 raised to 1 and 3.
        assertArrayEquals(new double[] {0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125},
                ReferenceBloom.alibiSlopes(6), 0);
    }

    @Test
    void oneAndTwoHeads() {
        assertArrayEquals(new double[] {0.00390625}, ReferenceBloom.alibiSlopes(1), 0);
        assertArrayEquals(new double[] {0.0625, 0.00390625}, ReferenceBloom.alibiSlopes(2), 0);
    }

    /** bloom-7b1 has 32 heads, bloom (176B) 112: the latter exercises the extra-head branch at scale. */
    @Test
    void oneHundredTwelveHeads() {
        double[] slopes = ReferenceBloom.alibiSlopes(112);
        assertEquals(112, slopes.length);
        // p = 64: slope i = 2^(-(i+1)/8). Values of the irrational powers from Python's 2**x, to 1 ulp.
        assertEquals(0.9170040432046712, slopes[0], 2e-16);      // 2^(-1/8)
        assertEquals(0.5, slopes[7], 0);                          // 2^(-8/8)
        assertEquals(0.00390625, slopes[63], 0);                  // 2^(-64/8)
        // 48 extra heads: 2^(-(2k+1)/16).
        assertEquals(0.9576032806985737, slopes[64], 2e-16);     // 2^(-1/16)
        assertEquals(0.8781260801866497, slopes[65], 2e-16);     // 2^(-3/16)
        assertEquals(0.6771277734684463, slopes[68], 2e-16);     // 2^(-9/16)
        assertEquals(0.01631677785042834, slopes[111], 1e-17);   // 2^(-95/16)
        for (int i = 1; i < 64; i++) {
            assertTrue(slopes[i] < slopes[i - 1], "first 64 slopes decrease, at " + i);
        }
    }

    @Test
    void rejectsNonPositiveHeadCount() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ReferenceBloom.alibiSlopes(0));
        assertTrue(e.getMessage().contains("head count"), e.getMessage());
    }
}

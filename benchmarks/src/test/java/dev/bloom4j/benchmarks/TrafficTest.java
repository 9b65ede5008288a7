package dev.bloom4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TrafficTest {

    @Test
    void kvCacheBytesOfBloom560mByHand() {
        // 24 layers x (K + V) x 1024 values x 129 positions x 2 bytes (f16).
        assertEquals(24L * 2 * 1024 * 129 * 2, Traffic.kvCachePerToken(Flops.Shape.BLOOM_560M, 128, 2));
        assertEquals(12_681_216L, Traffic.kvCachePerToken(Flops.Shape.BLOOM_560M, 128, 2));
        // f32 doubles it; context 0 still reads the token's own key and value.
        assertEquals(2 * 12_681_216L, Traffic.kvCachePerToken(Flops.Shape.BLOOM_560M, 128, 4));
        assertEquals(24L * 2 * 1024 * 2, Traffic.kvCachePerToken(Flops.Shape.BLOOM_560M, 0, 2));
    }

    @Test
    void decodeAddsTheWeights() {
        long weights = 1_118_000_000L;
        assertEquals(weights + 12_681_216L, Traffic.decodePerToken(weights, Flops.Shape.BLOOM_560M, 128, 2));
        assertThrows(IllegalArgumentException.class, () -> Traffic.kvCachePerToken(Flops.Shape.BLOOM_560M, -1, 2));
        assertThrows(IllegalArgumentException.class, () -> Traffic.kvCachePerToken(Flops.Shape.BLOOM_560M, 1, 0));
    }
}

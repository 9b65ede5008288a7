package dev.bloom4j.benchmarks;

/**
 * Bytes one decoded token reads from memory, for the memory-bandwidth figure of decode: every weight once (the
 * matrices in their stored type, the tied embedding once as the output projection; {@code ModelInfo.weightBytes()})
 * plus the whole KV cache up to the token: keys and values of {@code context + 1} positions in every layer.
 * Activations (a few vectors of {@code E} floats per layer) are left out: they are kilobytes against gigabytes. For an
 * untied model the embedding table is counted though a decode reads one row of it: an overestimate of
 * {@code V·E} elements, which a caller can subtract.
 */
public final class Traffic {

    private Traffic() {}

    /** KV-cache bytes read per decoded token at {@code context}: {@code 2·L·E·(context + 1)·elementBytes}. */
    public static long kvCachePerToken(Flops.Shape shape, int context, int elementBytes) {
        if (context < 0 || elementBytes < 1) {
            throw new IllegalArgumentException("context must be >= 0 and elementBytes >= 1, got " + context + ", "
                    + elementBytes);
        }
        return Math.multiplyExact(Math.multiplyExact(2L * shape.layerCount(), (long) shape.embeddingSize()),
                Math.multiplyExact(context + 1L, elementBytes));
    }

    /** Weight bytes plus {@link #kvCachePerToken}: what one decode step at {@code context} reads. */
    public static long decodePerToken(long weightBytes, Flops.Shape shape, int context, int elementBytes) {
        return Math.addExact(weightBytes, kvCachePerToken(shape, context, elementBytes));
    }
}

package dev.bloom4j;

/**
 * Receives the progress of a model load or a conversion, on the calling thread. Throwing from {@link #onProgress}
 * cancels the operation: {@link BloomModel#load(java.nio.file.Path, LoadOptions)} or
 * {@link BloomConverter#convert(java.nio.file.Path, java.nio.file.Path, ConvertOptions)} then throws a
 * {@link CancelledException} whose cause is the exception thrown here.
 * {@snippet :
 * var options = LoadOptions.builder()
 *         .progress(fraction -> System.err.printf("\rloading %3.0f%%", fraction * 100))
 *         .build();
 * try (var model = BloomModel.load(dir, options)) {
 *     // ...
 * }
 * }
 */
@FunctionalInterface
public interface ProgressListener {
    /**
     * Called repeatedly while loading or converting.
     *
     * @param fraction progress in [0, 1], non-decreasing; 1 means the weights are in place (or written)
     */
    void onProgress(double fraction);
}

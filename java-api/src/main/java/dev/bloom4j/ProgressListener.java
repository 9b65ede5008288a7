package dev.bloom4j;

/**
 * Receives the progress of a model load, on the loading thread. Throwing from {@link #onProgress} cancels the
 * load: {@link BloomModel#load(java.nio.file.Path, LoadOptions)} then throws a {@link CancelledException} whose
 * cause is the exception thrown here.
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
     * Called repeatedly while loading.
     *
     * @param fraction progress in [0, 1], non-decreasing; 1 means the weights are in place
     */
    void onProgress(double fraction);
}

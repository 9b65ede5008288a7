package dev.bloom4j;

/**
 * Receives the progress of a file {@link HubModels} downloads, on the downloading thread. Throwing from it stops
 * the download; the partial file stays in the cache and the next attempt resumes it.
 * {@snippet :
 * DownloadListener listener = (file, done, total) ->
 *         System.err.printf("\r%s %d / %d bytes", file, done, total);
 * HubModels.fromEnvironment().download(HubName.parse("bigscience/bloom-560m"), listener, false);
 * }
 */
@FunctionalInterface
public interface DownloadListener {
    /**
     * Called when a download starts ({@code done} is what an earlier attempt left to resume from), as bytes arrive
     * and once at the end ({@code done == total}).
     *
     * @param file  the file's path inside the repository, e.g. {@code model.safetensors}
     * @param done  bytes of the file on disk so far
     * @param total the file's size, or -1 when the hub did not say
     */
    void onProgress(String file, long done, long total);
}

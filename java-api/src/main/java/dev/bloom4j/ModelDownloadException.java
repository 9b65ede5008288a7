package dev.bloom4j;

/**
 * A model could not be fetched from the Hugging Face hub ({@link BloomStatus#IO}): the hub refused access (HTTP 401
 * or 403: a private or gated repository, or a missing or wrong token), answered with a server error, could not be
 * reached, or sent a file whose checksum did not match, twice. A repository, revision or file that does not exist
 * is a {@link ModelNotFoundException} instead. {@link #httpStatus()} is the hub's answer where there was one. The
 * message names the repository, the file and what to do.
 * {@snippet :
 * try (var model = BloomModel.load("bigscience/bloom-560m")) {
 *     // ...
 * } catch (ModelDownloadException e) {
 *     if (e.httpStatus() == 401 || e.httpStatus() == 403) {
 *         System.err.println("set HF_TOKEN: " + e.getMessage());
 *     }
 * }
 * }
 */
public final class ModelDownloadException extends BloomException {
    private static final long serialVersionUID = 1L;

    private final int httpStatus;

    ModelDownloadException(String message, int httpStatus, Throwable cause) {
        super(BloomStatus.IO, message, "", cause);
        this.httpStatus = httpStatus;
    }

    /** The HTTP status the hub answered with, or 0 when there was no answer (a network failure, a bad checksum). */
    public int httpStatus() {
        return httpStatus;
    }
}

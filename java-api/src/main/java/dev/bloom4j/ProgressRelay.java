package dev.bloom4j;

import java.lang.foreign.MemorySegment;

/**
 * Bridges a native {@code bloom_progress_callback} to a {@link ProgressListener} that may throw. An upcall must
 * never throw (the JVM would die), so the first exception is parked here, the native side is told to stop, and the
 * caller turns the resulting {@link BloomStatus#CANCELLED} into a {@link CancelledException} with that cause.
 */
final class ProgressRelay {
    private final ProgressListener listener;
    Throwable failure;

    ProgressRelay(ProgressListener listener) {
        this.listener = listener;
    }

    /** The upcall target: {@code bool (*)(float progress, void * user_data)}. */
    boolean apply(float progress, MemorySegment userData) {
        if (failure != null) {
            return false;
        }
        try {
            listener.onProgress(progress);
            return true;
        } catch (Throwable t) {
            failure = t;
            return false;
        }
    }
}

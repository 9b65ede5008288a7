package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_convert_params;
import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * How {@link BloomConverter#convert(java.nio.file.Path, java.nio.file.Path, ConvertOptions)} writes a GGUF file.
 * Defaults come from the native {@code bloom_convert_default_params()}.
 * {@snippet :
 * var options = ConvertOptions.builder()
 *         .fileType(FileType.Q4_K_M)
 *         .threads(4)                                             // 0 = one per core
 *         .progress(p -> System.err.printf("\r%3.0f%%", p * 100))
 *         .build();
 * BloomConverter.convert(Path.of("/models/bloom-560m"), Path.of("/models/bloom-560m-q4_k_m.gguf"), options);
 * }
 *
 * @param fileType what to write
 * @param threads  threads for quantizing; 0 means one per core
 * @param progress receives the progress of the conversion on the calling thread; {@code null} for none. Throwing
 *                 from it cancels the conversion (no partial file is left).
 */
public record ConvertOptions(FileType fileType, int threads, ProgressListener progress) {

    /** Validates every field; the message names the offending one. */
    public ConvertOptions {
        Objects.requireNonNull(fileType, "fileType");
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = one per core), got " + threads);
        }
    }

    /** The native defaults, no progress listener. */
    public static ConvertOptions defaults() {
        return builder().build();
    }

    /** The native defaults with another file type. */
    public static ConvertOptions of(FileType fileType) {
        return builder().fileType(fileType).build();
    }

    /** A builder starting from the native defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link ConvertOptions}; every setter is optional and {@link #build()} validates. */
    public static final class Builder {
        private FileType fileType;
        private int threads;
        private ProgressListener progress;

        private Builder() {
            Native.init();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment defaults = bloom_h.bloom_convert_default_params(arena);
                fileType = FileType.of(bloom_convert_params.ftype(defaults));
                threads = bloom_convert_params.n_threads(defaults);
            }
        }

        /** What to write (native default: {@link FileType#F16}). */
        public Builder fileType(FileType fileType) {
            this.fileType = fileType;
            return this;
        }

        /** Threads for quantizing; 0 = one per core. */
        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** Receives conversion progress; {@code null} removes a listener set before. */
        public Builder progress(ProgressListener progress) {
            this.progress = progress;
            return this;
        }

        /** @throws IllegalArgumentException naming the first invalid field */
        public ConvertOptions build() {
            return new ConvertOptions(fileType, threads, progress);
        }
    }
}

package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_convert_params;
import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_progress_callback;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Writes BLOOM models as GGUF files, the format of the ggml world, in any of llama.cpp's file types
 * ({@link FileType}): a Hugging Face checkpoint directory becomes a GGUF file laid out as llama.cpp's
 * {@code convert_hf_to_gguf.py} writes it (then quantized as {@code llama-quantize} would), tokenizer included, so
 * that llama.cpp runs it; a GGUF file is re-quantized (dequantized from its stored type first).
 * {@snippet :
 * BloomConverter.convert(Path.of("/models/bloom-560m"), Path.of("/models/bloom-560m-f16.gguf"), FileType.F16);
 * BloomConverter.convert(Path.of("/models/bloom-560m-f16.gguf"), Path.of("/models/bloom-560m-q8_0.gguf"),
 *         ConvertOptions.builder().fileType(FileType.Q8_0).threads(4).build());
 * try (var model = BloomModel.load(Path.of("/models/bloom-560m-q8_0.gguf"))) {
 *     // ...
 * }
 * }
 *
 * <p>The output is written under a temporary name next to it and renamed at the end, so a failed or cancelled
 * conversion leaves no partial file, and an existing file at the output path is replaced only on success.
 * Conversion reads the whole input and can take a while for large models; it runs on the calling thread (the
 * quantizer uses {@link ConvertOptions#threads()} workers). Stateless and thread-safe.
 */
public final class BloomConverter {

    private BloomConverter() {}

    /**
     * Converts {@code input} to a GGUF file of the given type, with the native default threads.
     *
     * @see #convert(Path, Path, ConvertOptions)
     */
    public static void convert(Path input, Path output, FileType type) {
        Objects.requireNonNull(type, "type");
        convert(input, output, ConvertOptions.of(type));
    }

    /**
     * Converts {@code input} (a Hugging Face checkpoint directory or a GGUF file) to a GGUF file at {@code output}.
     *
     * @throws ModelNotFoundException     the input is missing or unreadable, the output's directory does not exist
     *                                    or the output cannot be written
     * @throws ModelFormatException       the input is corrupt, or valid but unsupported
     * @throws IllegalArgumentException   the output is the input itself, or an existing directory
     * @throws BloomOutOfMemoryException  the conversion ran out of memory
     * @throws CancelledException         the progress listener threw (its exception is the cause); no file is left
     */
    public static void convert(Path input, Path output, ConvertOptions options) {
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(options, "options");
        Native.init();
        checkPaths(input, output);
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment params = bloom_h.bloom_convert_default_params(tmp);
            bloom_convert_params.ftype(params, options.fileType().code());
            bloom_convert_params.n_threads(params, options.threads());
            ProgressRelay relay = null;
            if (options.progress() != null) {
                relay = new ProgressRelay(options.progress());
                bloom_convert_params.progress_callback(params, bloom_progress_callback.allocate(relay::apply, tmp));
            }
            MemorySegment in = Native.utf8(tmp, input.toString());
            MemorySegment out = Native.utf8(tmp, output.toString());
            int status = bloom_h.bloom_convert(in, in.byteSize(), out, out.byteSize(), params);
            if (status != bloom_h.BLOOM_OK()) {
                BloomException failure = Native.exception(status);
                if (relay != null && relay.failure != null) {
                    failure = Native.exception(BloomStatus.CANCELLED,
                            "cancelled: converting " + input + " stopped because the progress listener threw "
                                    + relay.failure,
                            failure.nativeMessage(), relay.failure);
                }
                throw failure;
            }
        }
    }

    /** What Java can tell about the paths before the native side reads gigabytes. */
    private static void checkPaths(Path input, Path output) {
        if (!Files.isDirectory(input) && !Files.isRegularFile(input)) {
            throw Native.javaSide(BloomStatus.IO, Files.exists(input)
                    ? "input is not a checkpoint directory or GGUF file: " + input
                    : "input model not found: " + input + " (expected a checkpoint directory or a .gguf file)");
        }
        if (Files.isDirectory(output)) {
            throw new IllegalArgumentException("output " + output + " is a directory; give the path of the .gguf "
                    + "file to write");
        }
        try {
            if (Files.exists(output) && Files.isSameFile(input, output)) {
                throw new IllegalArgumentException("output " + output + " is the input itself; write to another file");
            }
        } catch (IOException e) {
            // isSameFile only fails when a path cannot be examined: the native side will report that precisely.
        }
        Path parent = output.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw Native.javaSide(BloomStatus.IO, "output directory does not exist: " + parent);
        }
    }
}

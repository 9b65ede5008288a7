package dev.bloom4j.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * Writes tensors in the safetensors format exactly as the Hugging Face tools lay it out, as one file or as a
 * sharded checkpoint with a {@code model.safetensors.index.json}.
 *
 * <p>File layout: an unsigned 64-bit little-endian header length {@code N}; {@code N} bytes of UTF-8 JSON mapping
 * each tensor name to {@code {"dtype","shape","data_offsets":[begin,end]}} (offsets relative to the end of the
 * header), preceded by {@code "__metadata__":{"format":"pt"}} as PyTorch's {@code save_file} writes it and padded
 * with spaces to a multiple of 8 bytes; then the little-endian tensor data, back to back. Within a file tensors
 * are sorted by name, the order the Rust safetensors library uses.
 *
 * <pre>{@code
 * var weights = List.of(new TensorData("ln_f.weight", new int[] {2}, new float[] {1f, 0.5f}));
 * SafetensorsWriter.write(dir.resolve("model.safetensors"), weights, DataType.BF16);
 * SafetensorsWriter.writeSharded(otherDir, allWeights, DataType.F16, 3);   // model-0000i-of-00003 + index
 * }</pre>
 *
 * <p>Stateless and thread-safe.
 */
public final class SafetensorsWriter {

    /** File name of an unsharded checkpoint. */
    public static final String SINGLE_FILE_NAME = "model.safetensors";

    /** File name of a sharded checkpoint's index. */
    public static final String INDEX_FILE_NAME = "model.safetensors.index.json";

    /** The header metadata {@code transformers} writes for PyTorch weights. */
    public static final Map<String, String> PYTORCH_METADATA = Map.of("format", "pt");

    private static final int WRITE_BUFFER_BYTES = 1 << 20;

    private SafetensorsWriter() {
    }

    /**
     * Writes {@code tensors} to {@code file} with {@link #PYTORCH_METADATA}, replacing any existing file.
     *
     * @throws IllegalArgumentException if two tensors share a name
     */
    public static void write(Path file, List<TensorData> tensors, DataType type) throws IOException {
        write(file, tensors, type, PYTORCH_METADATA);
    }

    /**
     * Writes {@code tensors} to {@code file}, each converted to {@code type} (rounding to nearest even), replacing
     * any existing file.
     *
     * @param metadata the {@code __metadata__} string map; {@code null} or empty writes none
     * @throws IllegalArgumentException if two tensors share a name
     */
    public static void write(Path file, List<TensorData> tensors, DataType type, Map<String, String> metadata)
            throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(type, "type");
        List<TensorData> sorted = sortedByName(tensors);

        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            // Sorted so the header is the same on every run whatever Map implementation the caller used.
            header.put("__metadata__", new TreeMap<>(metadata));
        }
        long offset = 0;
        for (TensorData tensor : sorted) {
            long end = offset + (long) tensor.elementCount() * type.byteSize();
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", type.safetensorsName());
            List<Object> shape = new ArrayList<>();
            for (int dimension : tensor.shape()) {
                shape.add(dimension);
            }
            info.put("shape", shape);
            info.put("data_offsets", List.of(offset, end));
            header.put(tensor.name(), info);
            offset = end;
        }
        byte[] headerBytes = PythonJson.compact(header).getBytes(StandardCharsets.UTF_8);
        // Padding keeps the data section 8-byte aligned so readers can map tensors in place.
        int padding = (8 - headerBytes.length % 8) % 8;

        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buffer = ByteBuffer.allocate(WRITE_BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            buffer.putLong(headerBytes.length + padding);
            flush(channel, buffer);
            writeFully(channel, ByteBuffer.wrap(headerBytes));
            writeFully(channel, ByteBuffer.wrap(" ".repeat(padding).getBytes(StandardCharsets.US_ASCII)));
            for (TensorData tensor : sorted) {
                for (float value : tensor.values()) {
                    if (buffer.remaining() < 4) {
                        flush(channel, buffer);
                    }
                    switch (type) {
                        case F32 -> buffer.putFloat(value);
                        case F16 -> buffer.putShort(toFloat16(value));
                        case BF16 -> buffer.putShort(toBFloat16(value));
                    }
                }
            }
            flush(channel, buffer);
        }
    }

    /**
     * Writes a sharded checkpoint into {@code directory}: {@code shardCount} files named by
     * {@link #shardFileName(int, int)} plus {@link #INDEX_FILE_NAME}, the way {@code save_pretrained} does when a
     * model exceeds {@code max_shard_size}. Tensors keep the given order across shards (each shard a contiguous run,
     * sizes balanced by bytes, none empty), and the index maps every tensor to its file with
     * {@code metadata.total_size} the sum of tensor bytes.
     *
     * @return the shard files, in order
     * @throws IllegalArgumentException if {@code shardCount} is not between 1 and the number of tensors, or two
     *                                  tensors share a name
     */
    public static List<Path> writeSharded(Path directory, List<TensorData> tensors, DataType type, int shardCount)
            throws IOException {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(type, "type");
        sortedByName(tensors); // validates names before anything is written
        if (shardCount < 1 || shardCount > tensors.size()) {
            throw new IllegalArgumentException("shard count " + shardCount + " must be between 1 and the number of"
                    + " tensors (" + tensors.size() + ")");
        }
        long totalSize = 0;
        for (TensorData tensor : tensors) {
            totalSize += (long) tensor.elementCount() * type.byteSize();
        }

        Files.createDirectories(directory);
        List<Path> files = new ArrayList<>();
        Map<String, Object> weightMap = new TreeMap<>();
        int start = 0;
        long cumulative = 0;
        for (int shard = 0; shard < shardCount; shard++) {
            int end;
            if (shard == shardCount - 1) {
                end = tensors.size();
            } else {
                // Grow this shard until it reaches its share of the bytes, leaving one tensor per later shard.
                long target = totalSize * (shard + 1) / shardCount;
                int lastAllowedEnd = tensors.size() - (shardCount - shard - 1);
                end = start + 1;
                cumulative += (long) tensors.get(start).elementCount() * type.byteSize();
                while (end < lastAllowedEnd && cumulative < target) {
                    cumulative += (long) tensors.get(end).elementCount() * type.byteSize();
                    end++;
                }
            }
            String fileName = shardFileName(shard + 1, shardCount);
            List<TensorData> shardTensors = tensors.subList(start, end);
            Path file = directory.resolve(fileName);
            write(file, shardTensors, type, PYTORCH_METADATA);
            files.add(file);
            for (TensorData tensor : shardTensors) {
                weightMap.put(tensor.name(), fileName);
            }
            start = end;
        }

        Map<String, Object> index = new LinkedHashMap<>();
        index.put("metadata", Map.of("total_size", totalSize));
        index.put("weight_map", weightMap);
        Files.writeString(directory.resolve(INDEX_FILE_NAME), PythonJson.pythonIndented(index) + "\n",
                StandardCharsets.UTF_8);
        return files;
    }

    /**
     * The name {@code transformers} gives shard {@code shardNumber} (1-based) of {@code shardCount}, e.g.
     * {@code model-00002-of-00003.safetensors}.
     */
    public static String shardFileName(int shardNumber, int shardCount) {
        if (shardCount < 1 || shardNumber < 1 || shardNumber > shardCount) {
            throw new IllegalArgumentException("shard " + shardNumber + " of " + shardCount + " does not exist");
        }
        return String.format("model-%05d-of-%05d.safetensors", shardNumber, shardCount);
    }

    /** IEEE binary16 bits of {@code value}, rounded to nearest even; overflow becomes infinity, NaN stays NaN. */
    public static short toFloat16(float value) {
        return Float.floatToFloat16(value);
    }

    /** The float that binary16 bits {@code bits} denote (exact). */
    public static float fromFloat16(short bits) {
        return Float.float16ToFloat(bits);
    }

    /**
     * bfloat16 bits of {@code value}: the upper half of its binary32 bits, rounded to nearest even (as PyTorch's
     * {@code tensor.to(torch.bfloat16)} does); overflow becomes infinity, NaN stays a quiet NaN of the same sign.
     */
    public static short toBFloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            // Plain truncation could clear every mantissa bit and turn a NaN into infinity.
            return (short) ((bits >>> 16) | 0x0040);
        }
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    /** The float that bfloat16 bits {@code bits} denote (exact). */
    public static float fromBFloat16(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    private static List<TensorData> sortedByName(List<TensorData> tensors) {
        Objects.requireNonNull(tensors, "tensors");
        Set<String> seen = new HashSet<>();
        for (TensorData tensor : tensors) {
            Objects.requireNonNull(tensor, "tensor");
            if (!seen.add(tensor.name())) {
                throw new IllegalArgumentException("duplicate tensor name " + tensor.name());
            }
        }
        List<TensorData> sorted = new ArrayList<>(tensors);
        // Rust's str ordering is by bytes; for the ASCII names checkpoints use that equals String order.
        sorted.sort(Comparator.comparing(TensorData::name));
        return sorted;
    }

    private static void flush(FileChannel channel, ByteBuffer buffer) throws IOException {
        buffer.flip();
        writeFully(channel, buffer);
        buffer.clear();
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}

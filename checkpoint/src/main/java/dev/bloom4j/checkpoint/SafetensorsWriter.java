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
 * <p>Tensors too large to hold in memory are streamed: {@link #open} and {@link #openSharded} write the header
 * from names and shapes alone ({@link TensorSpec}) and return a {@link StreamingWriter} that takes the values piece
 * by piece, producing the same bytes.
 *
 * <p>The static methods are stateless and thread-safe.
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
        try (StreamingWriter writer = open(file, specsOf(sorted), type, metadata)) {
            for (TensorData tensor : sorted) {
                writer.write(tensor.name(), tensor.values(), 0, tensor.values().length);
            }
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
        try (StreamingWriter writer = openSharded(directory, specsOf(tensors), type, shardCount)) {
            for (TensorData tensor : tensors) {
                writer.write(tensor.name(), tensor.values(), 0, tensor.values().length);
            }
            return writer.files();
        }
    }

    /**
     * Opens {@code file} for tensors whose values are written later, piece by piece and in any order, so that no
     * tensor has to be in memory whole. The header (and so every tensor's place in the file) is written at once;
     * the file is byte-for-byte what {@link #write(Path, List, DataType, Map)} writes for the same tensors.
     * <pre>{@code
     * var specs = List.of(new TensorSpec("big", new long[] {100_000, 4096}));
     * try (var writer = SafetensorsWriter.open(file, specs, DataType.F16, SafetensorsWriter.PYTORCH_METADATA)) {
     *     float[] row = new float[4096];
     *     for (int r = 0; r < 100_000; r++) {
     *         fill(row, r);
     *         writer.write("big", row, 0, row.length);   // appended after the values written before
     *     }
     * }
     * }</pre>
     *
     * @param metadata the {@code __metadata__} string map; {@code null} or empty writes none
     * @throws IllegalArgumentException if two tensors share a name
     */
    public static StreamingWriter open(Path file, List<TensorSpec> tensors, DataType type,
                                       Map<String, String> metadata) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(type, "type");
        List<TensorSpec> sorted = sortedSpecs(tensors);
        StreamingWriter writer = new StreamingWriter(type, null, null);
        try {
            writer.addFile(file, sorted, metadata);
        } catch (IOException | RuntimeException e) {
            writer.abandon();
            throw e;
        }
        return writer;
    }

    /**
     * Opens a sharded checkpoint in {@code directory} for streamed tensors: the files and index
     * {@link #writeSharded} writes, split the same way (contiguous runs in the given order, balanced by bytes). The
     * index is written when the writer closes with every tensor complete.
     *
     * @throws IllegalArgumentException if {@code shardCount} is not between 1 and the number of tensors, or two
     *                                  tensors share a name
     */
    public static StreamingWriter openSharded(Path directory, List<TensorSpec> tensors, DataType type,
                                              int shardCount) throws IOException {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(type, "type");
        sortedSpecs(tensors);
        if (shardCount < 1 || shardCount > tensors.size()) {
            throw new IllegalArgumentException("shard count " + shardCount + " must be between 1 and the number of"
                    + " tensors (" + tensors.size() + ")");
        }
        long[] sizes = new long[tensors.size()];
        long totalSize = 0;
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = tensors.get(i).elementCount() * type.byteSize();
            totalSize += sizes[i];
        }
        int[] ends = shardEnds(sizes, shardCount);

        Files.createDirectories(directory);
        Map<String, Object> weightMap = new TreeMap<>();
        StreamingWriter writer = new StreamingWriter(type, directory.resolve(INDEX_FILE_NAME), null);
        try {
            int start = 0;
            for (int shard = 0; shard < shardCount; shard++) {
                String fileName = shardFileName(shard + 1, shardCount);
                List<TensorSpec> shardTensors = tensors.subList(start, ends[shard]);
                writer.addFile(directory.resolve(fileName), sortedSpecs(shardTensors), PYTORCH_METADATA);
                for (TensorSpec tensor : shardTensors) {
                    weightMap.put(tensor.name(), fileName);
                }
                start = ends[shard];
            }
        } catch (IOException | RuntimeException e) {
            writer.abandon();
            throw e;
        }
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("metadata", Map.of("total_size", totalSize));
        index.put("weight_map", weightMap);
        writer.indexText = PythonJson.pythonIndented(index) + "\n";
        return writer;
    }

    /**
     * Where each shard ends (exclusive), for tensors of the given byte sizes in order: each shard grows until it
     * reaches its share of the bytes, leaving at least one tensor for every later shard.
     */
    private static int[] shardEnds(long[] sizes, int shardCount) {
        long totalSize = 0;
        for (long size : sizes) {
            totalSize += size;
        }
        int[] ends = new int[shardCount];
        int start = 0;
        long cumulative = 0;
        for (int shard = 0; shard < shardCount; shard++) {
            int end;
            if (shard == shardCount - 1) {
                end = sizes.length;
            } else {
                long target = totalSize * (shard + 1) / shardCount;
                int lastAllowedEnd = sizes.length - (shardCount - shard - 1);
                end = start + 1;
                cumulative += sizes[start];
                while (end < lastAllowedEnd && cumulative < target) {
                    cumulative += sizes[end];
                    end++;
                }
            }
            ends[shard] = end;
            start = end;
        }
        return ends;
    }

    /**
     * Receives the values of the tensors of one safetensors file or sharded checkpoint, opened by
     * {@link SafetensorsWriter#open} or {@link SafetensorsWriter#openSharded}. Each tensor's values arrive in
     * row-major order over any number of {@link #write} calls; tensors may be filled in any order. Converting to the
     * storage type happens here. Not thread-safe.
     */
    public static final class StreamingWriter implements AutoCloseable {
        private final DataType type;
        private final Path indexFile;
        private final List<Path> files = new ArrayList<>();
        private final List<FileChannel> channels = new ArrayList<>();
        private final Map<String, Slot> slots = new LinkedHashMap<>();
        private final ByteBuffer buffer = ByteBuffer.allocate(WRITE_BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        private String indexText;
        private long totalBytes;
        private long bytesWritten;
        private boolean closed;

        /** Where a tensor's next value goes and how many are still due. */
        private static final class Slot {
            final TensorSpec spec;
            final FileChannel channel;
            long position;
            long remaining;

            Slot(TensorSpec spec, FileChannel channel, long position) {
                this.spec = spec;
                this.channel = channel;
                this.position = position;
                this.remaining = spec.elementCount();
            }
        }

        private StreamingWriter(DataType type, Path indexFile, String indexText) {
            this.type = type;
            this.indexFile = indexFile;
            this.indexText = indexText;
        }

        /** Writes a file's header and reserves its tensors' places; {@code sorted} is in file order. */
        private void addFile(Path file, List<TensorSpec> sorted, Map<String, String> metadata) throws IOException {
            Map<String, Object> header = new LinkedHashMap<>();
            if (metadata != null && !metadata.isEmpty()) {
                // Sorted so the header is the same on every run whatever Map implementation the caller used.
                header.put("__metadata__", new TreeMap<>(metadata));
            }
            long offset = 0;
            long[] offsets = new long[sorted.size()];
            for (int i = 0; i < sorted.size(); i++) {
                TensorSpec tensor = sorted.get(i);
                long end = offset + tensor.elementCount() * type.byteSize();
                Map<String, Object> info = new LinkedHashMap<>();
                info.put("dtype", type.safetensorsName());
                List<Object> shape = new ArrayList<>();
                for (long dimension : tensor.shape()) {
                    shape.add(dimension);
                }
                info.put("shape", shape);
                info.put("data_offsets", List.of(offset, end));
                header.put(tensor.name(), info);
                offsets[i] = offset;
                offset = end;
            }
            byte[] headerBytes = PythonJson.compact(header).getBytes(StandardCharsets.UTF_8);
            // Padding keeps the data section 8-byte aligned so readers can map tensors in place.
            int padding = (8 - headerBytes.length % 8) % 8;

            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            channels.add(channel);
            files.add(file);
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            length.putLong(headerBytes.length + padding).flip();
            writeFully(channel, length, 0);
            writeFully(channel, ByteBuffer.wrap(headerBytes), 8);
            writeFully(channel, ByteBuffer.wrap(" ".repeat(padding).getBytes(StandardCharsets.US_ASCII)),
                    8 + headerBytes.length);
            long dataStart = 8L + headerBytes.length + padding;
            for (int i = 0; i < sorted.size(); i++) {
                TensorSpec tensor = sorted.get(i);
                if (slots.put(tensor.name(), new Slot(tensor, channel, dataStart + offsets[i])) != null) {
                    throw new IllegalArgumentException("duplicate tensor name " + tensor.name());
                }
                totalBytes += tensor.elementCount() * type.byteSize();
            }
        }

        /**
         * Appends {@code values[from .. from+count)} to tensor {@code name}, converted to the storage type.
         *
         * @throws IllegalArgumentException the file has no such tensor, or the values overrun its element count
         */
        public void write(String name, float[] values, int from, int count) throws IOException {
            Objects.requireNonNull(name, "name");
            Objects.checkFromIndexSize(from, count, values.length);
            if (closed) {
                throw new IllegalStateException("the writer is closed");
            }
            Slot slot = slots.get(name);
            if (slot == null) {
                throw new IllegalArgumentException("no tensor named " + name + " was declared for this file");
            }
            if (count > slot.remaining) {
                throw new IllegalArgumentException("tensor " + name + " has " + slot.spec.elementCount()
                        + " elements; writing " + count + " more values overruns it by " + (count - slot.remaining));
            }
            int i = from;
            int end = from + count;
            while (i < end) {
                buffer.clear();
                while (i < end && buffer.remaining() >= 4) {
                    float value = values[i++];
                    switch (type) {
                        case F32 -> buffer.putFloat(value);
                        case F16 -> buffer.putShort(toFloat16(value));
                        case BF16 -> buffer.putShort(toBFloat16(value));
                    }
                }
                buffer.flip();
                int bytes = buffer.remaining();
                writeFully(slot.channel, buffer, slot.position);
                slot.position += bytes;
                bytesWritten += bytes;
            }
            slot.remaining -= count;
        }

        /** Bytes of tensor data written so far. */
        public long bytesWritten() {
            return bytesWritten;
        }

        /** Bytes of tensor data the files hold when complete. */
        public long totalBytes() {
            return totalBytes;
        }

        /** The safetensors files, in shard order. */
        public List<Path> files() {
            return List.copyOf(files);
        }

        /**
         * Closes the files and, for a sharded checkpoint, writes the index. Idempotent.
         *
         * @throws IllegalStateException a tensor did not receive all its values (the message names it); no index is
         *                               written then, so a loader does not take the files for a checkpoint
         */
        @Override
        public void close() throws IOException {
            if (closed) {
                return;
            }
            closed = true;
            closeChannels();
            for (Slot slot : slots.values()) {
                if (slot.remaining != 0) {
                    throw new IllegalStateException("tensor " + slot.spec.name() + " is incomplete: "
                            + (slot.spec.elementCount() - slot.remaining) + " of " + slot.spec.elementCount()
                            + " values were written");
                }
            }
            if (indexFile != null) {
                Files.writeString(indexFile, indexText, StandardCharsets.UTF_8);
            }
        }

        /** Closes the files after a failure to open, keeping the first exception. */
        private void abandon() {
            closed = true;
            try {
                closeChannels();
            } catch (IOException ignored) {
                // the exception that made us give up is the one to report
            }
        }

        private void closeChannels() throws IOException {
            IOException first = null;
            for (FileChannel channel : channels) {
                try {
                    channel.close();
                } catch (IOException e) {
                    if (first == null) {
                        first = e;
                    }
                }
            }
            if (first != null) {
                throw first;
            }
        }
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

    private static List<TensorSpec> sortedSpecs(List<TensorSpec> tensors) {
        Objects.requireNonNull(tensors, "tensors");
        Set<String> seen = new HashSet<>();
        for (TensorSpec tensor : tensors) {
            Objects.requireNonNull(tensor, "tensor");
            if (!seen.add(tensor.name())) {
                throw new IllegalArgumentException("duplicate tensor name " + tensor.name());
            }
        }
        List<TensorSpec> sorted = new ArrayList<>(tensors);
        sorted.sort(Comparator.comparing(TensorSpec::name));
        return sorted;
    }

    private static List<TensorSpec> specsOf(List<TensorData> tensors) {
        List<TensorSpec> specs = new ArrayList<>(tensors.size());
        for (TensorData tensor : tensors) {
            specs.add(TensorSpec.of(tensor));
        }
        return specs;
    }

    /** Positional write of the whole buffer: tensors of a streamed file are filled in any order. */
    private static void writeFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            at += channel.write(buffer, at);
        }
    }
}

package dev.bloom4j.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * The reference's own reader for a Hugging Face checkpoint directory: {@code config.json} and single or sharded
 * safetensors. Written from the format description, sharing no code with the writer in
 * {@code dev.bloom4j.checkpoint}, so a bug on one side shows up as a mismatch instead of cancelling out.
 */
final class CheckpointFiles {

    static final String PREFIX = "transformer.";

    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointFiles() {
    }

    /** A decoded tensor: shape outermost first, values row-major, widened exactly to double. */
    record Tensor(int[] shape, double[] values) {
    }

    /** The size hyper-parameters the forward pass needs, accepting both key spellings BLOOM configs use. */
    record Config(int vocabSize, int hiddenSize, int layerCount, int headCount, double layerNormEpsilon,
                  boolean applyResidualConnectionPostLayernorm) {
    }

    static Config readConfig(Path directory) throws IOException {
        Path file = directory.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new IOException("no config.json in " + directory);
        }
        JsonNode root = JSON.readTree(file.toFile());
        if (root.has("model_type") && !"bloom".equals(root.get("model_type").asText())) {
            throw new IOException(file + ": model_type is " + root.get("model_type") + ", not \"bloom\"");
        }
        // transformers' BloomConfig lets n_embed override hidden_size; the head count has two names too.
        int hidden = root.has("n_embed") ? requiredInt(root, "n_embed", file) : requiredInt(root, "hidden_size", file);
        int heads = oneOf(root, file, "n_head", "num_attention_heads");
        int layers = oneOf(root, file, "n_layer", "num_hidden_layers");
        int vocab = requiredInt(root, "vocab_size", file);
        double epsilon = root.has("layer_norm_epsilon") ? root.get("layer_norm_epsilon").asDouble() : 1e-5;
        boolean post = root.has("apply_residual_connection_post_layernorm")
                && root.get("apply_residual_connection_post_layernorm").asBoolean();
        if (hidden % heads != 0) {
            throw new IOException(file + ": hidden size " + hidden + " not divisible by " + heads + " heads");
        }
        return new Config(vocab, hidden, layers, heads, epsilon, post);
    }

    /**
     * Every tensor of the checkpoint under its canonical name (without {@code transformer.}), from
     * {@code model.safetensors} or from the shards listed in {@code model.safetensors.index.json}.
     */
    static Map<String, Tensor> readTensors(Path directory) throws IOException {
        Path index = directory.resolve("model.safetensors.index.json");
        Path single = directory.resolve("model.safetensors");
        Map<String, Tensor> stored = new LinkedHashMap<>();
        if (Files.isRegularFile(index)) {
            JsonNode weightMap = JSON.readTree(index.toFile()).get("weight_map");
            if (weightMap == null || !weightMap.isObject()) {
                throw new IOException(index + " has no weight_map object");
            }
            Set<String> files = new LinkedHashSet<>();
            weightMap.properties().forEach(e -> files.add(e.getValue().asText()));
            for (String name : files) {
                Map<String, Tensor> shard = readSafetensors(directory.resolve(name));
                for (Map.Entry<String, Tensor> entry : shard.entrySet()) {
                    JsonNode mapped = weightMap.get(entry.getKey());
                    if (mapped == null || !mapped.asText().equals(name)) {
                        throw new IOException(name + " holds " + entry.getKey() + " but the index maps it to "
                                + mapped);
                    }
                    if (stored.put(entry.getKey(), entry.getValue()) != null) {
                        throw new IOException("tensor " + entry.getKey() + " appears in more than one shard");
                    }
                }
            }
            for (Iterator<String> names = weightMap.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (!stored.containsKey(name)) {
                    throw new IOException("index maps " + name + " to " + weightMap.get(name).asText()
                            + " but that file does not contain it");
                }
            }
        } else if (Files.isRegularFile(single)) {
            stored.putAll(readSafetensors(single));
        } else {
            throw new IOException("no model.safetensors or model.safetensors.index.json in " + directory);
        }
        Map<String, Tensor> canonical = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> entry : stored.entrySet()) {
            String name = entry.getKey().startsWith(PREFIX) ? entry.getKey().substring(PREFIX.length())
                    : entry.getKey();
            if (canonical.put(name, entry.getValue()) != null) {
                throw new IOException("tensor " + name + " is stored both with and without the prefix " + PREFIX);
            }
        }
        return canonical;
    }

    static Map<String, Tensor> readSafetensors(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        if (bytes.length < 8) {
            throw new IOException(file + ": too short for a safetensors header (" + bytes.length + " bytes)");
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = buffer.getLong(0);
        if (headerLength < 2 || headerLength > bytes.length - 8L) {
            throw new IOException(file + ": header length " + headerLength + " does not fit in the file ("
                    + bytes.length + " bytes)");
        }
        JsonNode header = JSON.readTree(bytes, 8, (int) headerLength);
        long dataStart = 8 + headerLength;
        long dataLength = bytes.length - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : header.properties()) {
            if (entry.getKey().equals("__metadata__")) {
                continue;
            }
            String name = entry.getKey();
            JsonNode info = entry.getValue();
            String dtype = info.path("dtype").asText();
            JsonNode shapeNode = info.path("shape");
            JsonNode offsets = info.path("data_offsets");
            int[] shape = new int[shapeNode.size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asInt();
                count *= shape[i];
            }
            int elementSize = switch (dtype) {
                case "F64" -> 8;
                case "F32" -> 4;
                case "F16", "BF16" -> 2;
                default -> throw new IOException(file + ": tensor " + name + " has unsupported dtype " + dtype);
            };
            long begin = offsets.get(0).asLong();
            long end = offsets.get(1).asLong();
            if (begin < 0 || end < begin || end > dataLength || end - begin != count * elementSize) {
                throw new IOException(file + ": tensor " + name + " (" + dtype + " " + Arrays.toString(shape)
                        + ") has bad data_offsets [" + begin + ", " + end + "] for " + dataLength + " data bytes");
            }
            double[] values = new double[(int) count];
            int position = (int) (dataStart + begin);
            for (int i = 0; i < values.length; i++, position += elementSize) {
                values[i] = switch (dtype) {
                    case "F64" -> buffer.getDouble(position);
                    case "F32" -> buffer.getFloat(position);
                    case "F16" -> halfToDouble(buffer.getShort(position) & 0xFFFF);
                    default -> Float.intBitsToFloat((buffer.getShort(position) & 0xFFFF) << 16);
                };
            }
            tensors.put(name, new Tensor(shape, values));
        }
        return tensors;
    }

    /** IEEE binary16 to double, decoded field by field (independent of the JDK's Float.float16ToFloat). */
    static double halfToDouble(int bits) {
        int sign = (bits >>> 15) & 1;
        int exponent = (bits >>> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        double magnitude;
        if (exponent == 0) {
            magnitude = Math.scalb((double) mantissa, -24);
        } else if (exponent == 0x1F) {
            magnitude = mantissa == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else {
            magnitude = Math.scalb((double) (0x400 | mantissa), exponent - 25);
        }
        return sign == 1 ? -magnitude : magnitude;
    }

    private static int requiredInt(JsonNode root, String key, Path file) throws IOException {
        JsonNode node = root.get(key);
        if (node == null || !node.canConvertToInt()) {
            throw new IOException(file + ": missing or non-integer \"" + key + "\"");
        }
        return node.asInt();
    }

    private static int oneOf(JsonNode root, Path file, String first, String second) throws IOException {
        boolean hasFirst = root.has(first);
        boolean hasSecond = root.has(second);
        if (hasFirst && hasSecond && root.get(first).asInt() != root.get(second).asInt()) {
            throw new IOException(file + ": \"" + first + "\" and \"" + second + "\" disagree");
        }
        if (!hasFirst && !hasSecond) {
            throw new IOException(file + ": neither \"" + first + "\" nor \"" + second + "\" is present");
        }
        return requiredInt(root, hasFirst ? first : second, file);
    }
}

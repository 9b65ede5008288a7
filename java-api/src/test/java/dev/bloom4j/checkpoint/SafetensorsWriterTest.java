package dev.bloom4j.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Byte layout of written safetensors files and the index, and the half-precision rounding. */
class SafetensorsWriterTest {

    @TempDir
    Path temp;

    @Test
    void singleFileLayoutMatchesTheFormat() throws IOException {
        Path file = temp.resolve("model.safetensors");
        SafetensorsWriter.write(file, List.of(
                new TensorData("b", new int[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}),
                new TensorData("a", new int[] {1}, new float[] {-0.5f}),
                new TensorData("c", new int[] {}, new float[] {7})), DataType.F32);
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = buffer.getLong(0);
        assertEquals(0, headerLength % 8, "header padded to a multiple of 8");
        String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[4,28]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[28,32]}}";
        assertEquals(json, header.stripTrailing(), "compact header, sorted by name, metadata first");
        assertTrue(header.substring(json.length()).isBlank() && header.length() - json.length() < 8,
                "padding is fewer than 8 spaces");
        assertEquals(8 + headerLength + 32, bytes.length);
        int data = (int) (8 + headerLength);
        float[] expected = {-0.5f, 1, 2, 3, 4, 5, 6, 7};
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], buffer.getFloat(data + 4 * i), 0, "element " + i);
        }
    }

    @Test
    void metadataCanBeOmitted() throws IOException {
        Path file = temp.resolve("plain.safetensors");
        SafetensorsWriter.write(file, List.of(new TensorData("x", new int[] {1}, new float[] {1})), DataType.F16,
                null);
        byte[] bytes = Files.readAllBytes(file);
        long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals("{\"x\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}",
                new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8).stripTrailing());
    }

    @Test
    void float16RoundsToNearestEven() {
        assertEquals((short) 0x3555, SafetensorsWriter.toFloat16(1f / 3));       // 0.333251953125
        assertEquals((short) 0x3C00, SafetensorsWriter.toFloat16(1f));
        assertEquals((short) 0xC000, SafetensorsWriter.toFloat16(-2f));
        assertEquals((short) 0x7BFF, SafetensorsWriter.toFloat16(65504f));       // largest finite half
        assertEquals((short) 0x7BFF, SafetensorsWriter.toFloat16(65519f));       // below the halfway point
        assertEquals((short) 0x7C00, SafetensorsWriter.toFloat16(65520f));       // halfway rounds to even: inf
        assertEquals((short) 0x0001, SafetensorsWriter.toFloat16(0x1p-24f));     // smallest subnormal
        assertEquals((short) 0x0000, SafetensorsWriter.toFloat16(0x1p-25f));     // tie with 0: even is 0
        assertEquals((short) 0x0002, SafetensorsWriter.toFloat16(0x3p-25f));     // tie between 1 and 2 ulps: 2
        assertEquals((short) 0x0001, SafetensorsWriter.toFloat16(0x1.8p-25f));   // above the tie: 1 ulp
        assertEquals((short) 0x03FF, SafetensorsWriter.toFloat16(0x3FFp-24f));   // largest subnormal
        assertEquals((short) 0x3C00, SafetensorsWriter.toFloat16(1 + 0x1p-11f)); // tie, 1.0 is even
        assertEquals((short) 0x3C02, SafetensorsWriter.toFloat16(1 + 0x3p-11f)); // tie, rounds up to even
        assertEquals(0.333251953125f, DataType.F16.round(1f / 3), 0);
    }

    @Test
    void bfloat16RoundsToNearestEven() {
        assertEquals((short) 0x3EAB, SafetensorsWriter.toBFloat16(1f / 3));      // 0x3EAAAAAB rounds up
        assertEquals((short) 0x3F80, SafetensorsWriter.toBFloat16(1 + 0x1p-8f)); // tie, 0x3F80 is even
        assertEquals((short) 0x3F82, SafetensorsWriter.toBFloat16(1 + 0x3p-8f)); // tie, up to even 0x3F82
        assertEquals((short) 0x3F81, SafetensorsWriter.toBFloat16(1 + 0x1p-8f + 0x1p-20f)); // just above a tie
        assertEquals((short) 0x3F80, SafetensorsWriter.toBFloat16(1 + 0x1p-8f - 0x1p-20f)); // just below it
        assertEquals((short) 0x4780, SafetensorsWriter.toBFloat16(65504f));      // 65536 is nearer than 65280
        assertEquals((short) 0x7F80, SafetensorsWriter.toBFloat16(Float.MAX_VALUE)); // overflows to inf
        assertEquals((short) 0x0001, SafetensorsWriter.toBFloat16(Float.intBitsToFloat(0x00010000)));
        assertEquals((short) 0x8000, SafetensorsWriter.toBFloat16(-0f));
        assertTrue(Float.isNaN(SafetensorsWriter.fromBFloat16(SafetensorsWriter.toBFloat16(Float.NaN))));
        // A NaN whose payload sits only in the low bits must not collapse to infinity.
        assertTrue(Float.isNaN(SafetensorsWriter.fromBFloat16(
                SafetensorsWriter.toBFloat16(Float.intBitsToFloat(0x7F800001)))));
        assertEquals(0.333984375f, DataType.BF16.round(1f / 3), 0);
    }

    @Test
    void halfPrecisionBytesInTheFile() throws IOException {
        float[] values = {1f / 3, 65504f, 0x1p-24f, -2f};
        short[] half = {0x3555, 0x7BFF, 0x0001, (short) 0xC000};
        short[] brain = {0x3EAB, 0x4780, 0x3380, (short) 0xC000};
        assertArrayEquals(half, storedShorts(values, DataType.F16));
        assertArrayEquals(brain, storedShorts(values, DataType.BF16));
    }

    private short[] storedShorts(float[] values, DataType type) throws IOException {
        Path file = temp.resolve(type + ".safetensors");
        SafetensorsWriter.write(file, List.of(new TensorData("v", new int[] {values.length}, values)), type);
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int data = (int) (8 + buffer.getLong(0));
        short[] out = new short[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = buffer.getShort(data + 2 * i);
        }
        return out;
    }

    @Test
    void shardedCheckpointHasIndexAndContiguousShards() throws IOException {
        List<TensorData> tensors = new ArrayList<>();
        int[] sizes = {40, 3, 3, 20, 20, 1, 10};
        for (int i = 0; i < sizes.length; i++) {
            tensors.add(new TensorData("t" + i, new int[] {sizes[i]}, new float[sizes[i]]));
        }
        List<Path> files = SafetensorsWriter.writeSharded(temp, tensors, DataType.BF16, 3);
        assertEquals(List.of(temp.resolve("model-00001-of-00003.safetensors"),
                temp.resolve("model-00002-of-00003.safetensors"),
                temp.resolve("model-00003-of-00003.safetensors")), files);

        String index = Files.readString(temp.resolve(SafetensorsWriter.INDEX_FILE_NAME));
        // 97 elements * 2 bytes. t0 alone passes the first third of the bytes; t1..t3 reach two thirds.
        assertEquals("""
                {
                  "metadata": {
                    "total_size": 194
                  },
                  "weight_map": {
                    "t0": "model-00001-of-00003.safetensors",
                    "t1": "model-00002-of-00003.safetensors",
                    "t2": "model-00002-of-00003.safetensors",
                    "t3": "model-00002-of-00003.safetensors",
                    "t4": "model-00003-of-00003.safetensors",
                    "t5": "model-00003-of-00003.safetensors",
                    "t6": "model-00003-of-00003.safetensors"
                  }
                }
                """, index);
        ObjectMapper json = new ObjectMapper();
        for (Path file : files) {
            byte[] bytes = Files.readAllBytes(file);
            long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            JsonNode header = json.readTree(bytes, 8, (int) headerLength);
            assertEquals("pt", header.path("__metadata__").path("format").asText(), file.toString());
            header.properties().forEach(entry -> {
                if (!entry.getKey().equals("__metadata__")) {
                    assertTrue(index.contains("\"" + entry.getKey() + "\": \"" + file.getFileName() + "\""),
                            entry.getKey() + " in " + file.getFileName());
                }
            });
        }
    }

    @Test
    void everyShardGetsATensorEvenWhenOneDominates() throws IOException {
        List<TensorData> tensors = List.of(new TensorData("big", new int[] {1000}, new float[1000]),
                new TensorData("x", new int[] {1}, new float[1]), new TensorData("y", new int[] {1}, new float[1]));
        SafetensorsWriter.writeSharded(temp, tensors, DataType.F32, 3);
        String index = Files.readString(temp.resolve(SafetensorsWriter.INDEX_FILE_NAME));
        assertTrue(index.contains("\"big\": \"model-00001-of-00003.safetensors\""), index);
        assertTrue(index.contains("\"x\": \"model-00002-of-00003.safetensors\""), index);
        assertTrue(index.contains("\"y\": \"model-00003-of-00003.safetensors\""), index);
    }

    @Test
    void rejectsBadInput() {
        List<TensorData> two = List.of(new TensorData("a", new int[] {1}, new float[1]),
                new TensorData("b", new int[] {1}, new float[1]));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.writeSharded(temp, two, DataType.F32, 3));
        assertTrue(e.getMessage().contains("shard count 3"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(temp.resolve("d"),
                List.of(two.get(0), two.get(0)), DataType.F32));
        assertTrue(e.getMessage().contains("duplicate tensor name a"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> new TensorData("w", new int[] {2, 3}, new float[5]));
        assertTrue(e.getMessage().contains("tensor w: shape [2, 3] holds 6 elements but 5 values"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> new TensorData("__metadata__", new int[] {0}, new float[0]));
        assertTrue(e.getMessage().contains("reserved"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.shardFileName(4, 3));
        assertTrue(e.getMessage().contains("shard 4 of 3"), e.getMessage());
        assertEquals("model-00002-of-00011.safetensors", SafetensorsWriter.shardFileName(2, 11));
    }

    @Test
    void dataTypeNames() {
        assertEquals(DataType.BF16, DataType.fromSafetensorsName("BF16"));
        assertEquals("bfloat16", DataType.BF16.torchName());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DataType.fromSafetensorsName("I8"));
        assertTrue(e.getMessage().contains("\"I8\""), e.getMessage());
        assertEquals(Map.of("format", "pt"), SafetensorsWriter.PYTORCH_METADATA);
    }
}

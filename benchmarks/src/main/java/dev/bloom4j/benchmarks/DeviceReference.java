package dev.bloom4j.benchmarks;

import dev.bloom4j.BloomRuntime;
import dev.bloom4j.Device;
import dev.bloom4j.WeightType;
import java.util.List;
import java.util.Locale;

/**
 * The achievable-peak references a model's figures are set against, measured through the runtime's own ggml
 * backend on one device: a plain matrix product (TFLOP/s; the default shape is issue 4's [2048 x 4096] x
 * [4096 x 12288], bf16 weights) and a device-to-device copy (GB/s, bytes read plus written). Prints one JSON object.
 * {@snippet :
 * java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar dev.bloom4j.benchmarks.DeviceReference \
 *      --device 0 --type bf16 --reps 10
 * }
 * Options: {@code --device I} (a {@code bloom devices} index; default: the first GPU, else the CPU),
 * {@code --tokens N} (2048), {@code --k K} (4096), {@code --rows M} (12288), {@code --type T} (bf16),
 * {@code --copy-bytes B} (1 GiB), {@code --threads N} (0 = all cores), {@code --reps N} (10).
 * MFU/MBU against a datasheet are the caller's division: TFLOP/s / peak, GB/s / peak.
 */
public final class DeviceReference {

    private DeviceReference() {}

    public static void main(String[] args) {
        List<Device> devices = BloomRuntime.devices();
        int device = devices.stream().filter(d -> d.type() == Device.Type.GPU).mapToInt(Device::index).findFirst()
                .orElse(devices.size() - 1);
        long tokens = 2048, k = 4096, rows = 12288, copyBytes = 1L << 30;
        WeightType type = WeightType.BF16;
        int threads = 0, reps = 10;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            if (value == null) {
                throw new IllegalArgumentException(args[i] + " needs a value");
            }
            switch (args[i]) {
                case "--device" -> device = Integer.parseInt(value);
                case "--tokens" -> tokens = Long.parseLong(value);
                case "--k" -> k = Long.parseLong(value);
                case "--rows" -> rows = Long.parseLong(value);
                case "--type" -> type = WeightType.valueOf(value.toUpperCase(Locale.ROOT));
                case "--copy-bytes" -> copyBytes = Long.parseLong(value);
                case "--threads" -> threads = Integer.parseInt(value);
                case "--reps" -> reps = Integer.parseInt(value);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
            i++;
        }
        if (device < 0 || device >= devices.size()) {
            throw new IllegalArgumentException("--device " + device + ": bloom devices lists 0.." + (devices.size() - 1));
        }
        Device d = devices.get(device);
        double gemmSeconds = BloomRuntime.measureMatmul(d, rows, tokens, k, type, threads, reps);
        double copySeconds = BloomRuntime.measureCopy(d, copyBytes, threads, reps);
        double tflops = 2.0 * rows * tokens * k / gemmSeconds / 1e12;
        double gbps = 2.0 * copyBytes / copySeconds / 1e9;
        System.out.printf(Locale.ROOT, "{\"device\": {\"index\": %d, \"name\": \"%s\", \"description\": \"%s\", "
                        + "\"type\": \"%s\", \"memory_total\": %d}, \"library\": \"%s\", "
                        + "\"gemm\": {\"rows\": %d, \"tokens\": %d, \"k\": %d, \"type\": \"%s\", \"reps\": %d, "
                        + "\"seconds\": %.6g, \"tflops\": %.4g}, "
                        + "\"copy\": {\"bytes\": %d, \"reps\": %d, \"seconds\": %.6g, \"gb_per_s\": %.4g}}%n",
                d.index(), json(d.name()), json(d.description()), d.type(), d.memoryTotal(),
                json(BloomRuntime.version()), rows, tokens, k, type.nativeName(), reps, gemmSeconds, tflops,
                copyBytes, reps, copySeconds, gbps);
    }

    private static String json(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }
}

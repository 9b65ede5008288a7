package dev.bloom4j.checkpoint;

/**
 * Element types a checkpoint written by this package can store, with their safetensors and PyTorch names.
 *
 * <pre>{@code
 * float stored = DataType.BF16.round(0.1f);   // the value a reader will see: 0.10009765625
 * }</pre>
 */
public enum DataType {
    /** IEEE 754 binary32. */
    F32("F32", "float32", 4),
    /** IEEE 754 binary16 (half precision), rounded to nearest even on write. */
    F16("F16", "float16", 2),
    /** bfloat16: the upper 16 bits of a binary32, rounded to nearest even on write. */
    BF16("BF16", "bfloat16", 2);

    private final String safetensorsName;
    private final String torchName;
    private final int byteSize;

    DataType(String safetensorsName, String torchName, int byteSize) {
        this.safetensorsName = safetensorsName;
        this.torchName = torchName;
        this.byteSize = byteSize;
    }

    /** The {@code dtype} string in a safetensors header: {@code "F32"}, {@code "F16"} or {@code "BF16"}. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The {@code torch_dtype} string in config.json: {@code "float32"}, {@code "float16"} or {@code "bfloat16"}. */
    public String torchName() {
        return torchName;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /**
     * The float a reader gets back after {@code value} is stored in this type and widened again (F32: unchanged).
     * Overflow rounds to infinity, as the conversion on write does.
     */
    public float round(float value) {
        return switch (this) {
            case F32 -> value;
            case F16 -> SafetensorsWriter.fromFloat16(SafetensorsWriter.toFloat16(value));
            case BF16 -> SafetensorsWriter.fromBFloat16(SafetensorsWriter.toBFloat16(value));
        };
    }

    /** The type whose safetensors name is {@code name}, e.g. {@code "BF16"}. */
    public static DataType fromSafetensorsName(String name) {
        for (DataType type : values()) {
            if (type.safetensorsName.equals(name)) {
                return type;
            }
        }
        throw new IllegalArgumentException("unsupported safetensors dtype \"" + name + "\" (supported: F32, F16, BF16)");
    }
}

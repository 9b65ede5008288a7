package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;

/**
 * Storage type of a model's weight matrices ({@code bloom_dtype}). Weights run in the type they were stored in.
 * {@snippet :
 * if (model.info().weightType() == WeightType.F32) {
 *     System.out.println("full-precision checkpoint: " + model.info().parameterCount() * 4 + " bytes of weights");
 * }
 * }
 */
public enum WeightType {
    /** IEEE 754 single precision. */
    F32(bloom_h.BLOOM_DTYPE_F32()),
    /** IEEE 754 half precision. */
    F16(bloom_h.BLOOM_DTYPE_F16()),
    /** bfloat16: float32's exponent range with an 8-bit mantissa. */
    BF16(bloom_h.BLOOM_DTYPE_BF16());

    private final int code;

    WeightType(int code) {
        this.code = code;
    }

    /** The name the native library uses for this type ("f32", "f16", "bf16"). */
    public String nativeName() {
        Native.init();
        return Native.cString(bloom_h.bloom_dtype_name(code));
    }

    static WeightType of(int code) {
        for (WeightType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        throw Native.javaSide(BloomStatus.INTERNAL, "the native library reported unknown weight dtype " + code);
    }
}

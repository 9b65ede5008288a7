package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;

/**
 * Storage type of a model's weight matrices ({@code bloom_dtype}). Weights run in the type they were stored in:
 * a Hugging Face checkpoint holds F32, F16 or BF16; a GGUF file may also hold ggml's block-quantized types. A
 * GGUF written with a K-quant mix ({@link FileType#Q4_K_M} and friends) keeps some matrices at a higher precision,
 * and {@link ModelInfo#weightType()} reports one representative matrix: the first block's query-key-value
 * projection, which {@code llama-quantize}'s mixes may keep at a higher type than most (a {@code q4_k_m} file of
 * bloom-560m's shape reports {@link #Q6_K}).
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
    BF16(bloom_h.BLOOM_DTYPE_BF16()),
    /** ggml Q8_0: blocks of 32 8-bit integers with one f16 scale (8.5 bits per weight). */
    Q8_0(bloom_h.BLOOM_DTYPE_Q8_0()),
    /** ggml Q4_0: blocks of 32 4-bit integers with one f16 scale (4.5 bits per weight). */
    Q4_0(bloom_h.BLOOM_DTYPE_Q4_0()),
    /** ggml Q4_1: blocks of 32 4-bit integers with an f16 scale and minimum (5 bits per weight). */
    Q4_1(bloom_h.BLOOM_DTYPE_Q4_1()),
    /** ggml Q5_0: blocks of 32 5-bit integers with one f16 scale (5.5 bits per weight). */
    Q5_0(bloom_h.BLOOM_DTYPE_Q5_0()),
    /** ggml Q5_1: blocks of 32 5-bit integers with an f16 scale and minimum (6 bits per weight). */
    Q5_1(bloom_h.BLOOM_DTYPE_Q5_1()),
    /**
     * ggml Q2_K: 256-weight super-blocks of 2-bit values with 4-bit sub-block scales and minimums (2.625 bits per
     * weight).
     */
    Q2_K(bloom_h.BLOOM_DTYPE_Q2_K()),
    /** ggml Q3_K: 256-weight super-blocks of 3-bit values with 6-bit sub-block scales (3.4375 bits per weight). */
    Q3_K(bloom_h.BLOOM_DTYPE_Q3_K()),
    /** ggml Q4_K: 256-weight super-blocks of 4-bit values with 6-bit scales and minimums (4.5 bits per weight). */
    Q4_K(bloom_h.BLOOM_DTYPE_Q4_K()),
    /** ggml Q5_K: 256-weight super-blocks of 5-bit values with 6-bit scales and minimums (5.5 bits per weight). */
    Q5_K(bloom_h.BLOOM_DTYPE_Q5_K()),
    /** ggml Q6_K: 256-weight super-blocks of 6-bit values with 8-bit sub-block scales (6.5625 bits per weight). */
    Q6_K(bloom_h.BLOOM_DTYPE_Q6_K());

    private final int code;

    WeightType(int code) {
        this.code = code;
    }

    /** The name the native library uses for this type ("f32", "f16", "bf16", "q8_0", "q4_k", ...). */
    public String nativeName() {
        Native.init();
        return Native.cString(bloom_h.bloom_dtype_name(code));
    }

    int code() {
        return code;
    }

    static WeightType of(int code) {
        return Native.byCode(WeightType.class, WeightType::code, code, "weight dtype");
    }
}

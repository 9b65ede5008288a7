package dev.bloom4j;

import static dev.bloom4j.bindings.internal.bloom_h.C_INT;

import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * What {@link BloomConverter} writes: llama.cpp's GGUF file types ({@code LLAMA_FTYPE_MOSTLY_*}, {@code bloom_ftype}),
 * named as {@code llama-quantize} spells them. {@code f32}, {@code f16}, {@code bf16} and {@code q8_0} store every
 * weight matrix in that type, as {@code convert_hf_to_gguf.py} writes them. The other types follow
 * {@code llama-quantize}'s per-tensor rules: the embedding matrix, which BLOOM ties to the output projection, is kept
 * at Q6_K, and the K-quant mixes ({@code _S}, {@code _M}, {@code _L}) also keep parts of the attention and
 * feed-forward weights at a higher precision. Rows too short for a type's blocks fall back to another type, as in
 * {@code llama-quantize}. Layer norms and biases stay f32.
 * {@snippet :
 * FileType type = FileType.parse("q4_k_m");      // case-insensitive
 * BloomConverter.convert(Path.of("/models/bloom-560m"), Path.of("/models/bloom-560m-q4_k_m.gguf"), type);
 * System.out.println(type.nativeName());         // "q4_k_m"
 * }
 */
public enum FileType {
    /** Every tensor in f32. */
    F32(bloom_h.BLOOM_FTYPE_F32()),
    /** Weight matrices in f16. */
    F16(bloom_h.BLOOM_FTYPE_F16()),
    /** Weight matrices in bf16. */
    BF16(bloom_h.BLOOM_FTYPE_BF16()),
    /** Weight matrices in {@link WeightType#Q8_0}. */
    Q8_0(bloom_h.BLOOM_FTYPE_Q8_0()),
    /** Weight matrices in {@link WeightType#Q4_0}, the tied embedding/output matrix in Q6_K. */
    Q4_0(bloom_h.BLOOM_FTYPE_Q4_0()),
    /** Weight matrices in {@link WeightType#Q4_1}, the tied embedding/output matrix in Q6_K. */
    Q4_1(bloom_h.BLOOM_FTYPE_Q4_1()),
    /** Weight matrices in {@link WeightType#Q5_0}, the tied embedding/output matrix in Q6_K. */
    Q5_0(bloom_h.BLOOM_FTYPE_Q5_0()),
    /** Weight matrices in {@link WeightType#Q5_1}, the tied embedding/output matrix in Q6_K. */
    Q5_1(bloom_h.BLOOM_FTYPE_Q5_1()),
    /** Mostly {@link WeightType#Q2_K}, some matrices in higher K-quants. */
    Q2_K(bloom_h.BLOOM_FTYPE_Q2_K()),
    /** Mostly {@link WeightType#Q3_K}: the small 3-bit mix. */
    Q3_K_S(bloom_h.BLOOM_FTYPE_Q3_K_S()),
    /** Mostly {@link WeightType#Q3_K}: the medium 3-bit mix. */
    Q3_K_M(bloom_h.BLOOM_FTYPE_Q3_K_M()),
    /** Mostly {@link WeightType#Q3_K}: the large 3-bit mix. */
    Q3_K_L(bloom_h.BLOOM_FTYPE_Q3_K_L()),
    /** Mostly {@link WeightType#Q4_K}: the small 4-bit mix. */
    Q4_K_S(bloom_h.BLOOM_FTYPE_Q4_K_S()),
    /** Mostly {@link WeightType#Q4_K}: the medium 4-bit mix. */
    Q4_K_M(bloom_h.BLOOM_FTYPE_Q4_K_M()),
    /** Mostly {@link WeightType#Q5_K}: the small 5-bit mix. */
    Q5_K_S(bloom_h.BLOOM_FTYPE_Q5_K_S()),
    /** Mostly {@link WeightType#Q5_K}: the medium 5-bit mix. */
    Q5_K_M(bloom_h.BLOOM_FTYPE_Q5_K_M()),
    /** Weight matrices in {@link WeightType#Q6_K}. */
    Q6_K(bloom_h.BLOOM_FTYPE_Q6_K());

    private final int code;

    FileType(int code) {
        this.code = code;
    }

    /** The name {@code llama-quantize} and the native library use ({@code bloom_ftype_name}): "f16", "q4_k_m", ... */
    public String nativeName() {
        Native.init();
        return Native.cString(bloom_h.bloom_ftype_name(code));
    }

    /**
     * The file type a name stands for, case-insensitively, as {@link #nativeName()} spells it
     * ({@code bloom_ftype_from_name}).
     *
     * @throws IllegalArgumentException the name is not a file type; the message lists the valid names
     */
    public static FileType parse(String name) {
        Objects.requireNonNull(name, "name");
        Native.init();
        int status;
        int code;
        String detail;
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment text = Native.utf8(tmp, name);
            MemorySegment out = tmp.allocate(C_INT);
            status = bloom_h.bloom_ftype_from_name(out, text, text.byteSize());
            code = out.get(C_INT, 0);
            // Read at once: the native detail is only valid until the next bloom_* call on this thread.
            detail = status == bloom_h.BLOOM_OK() ? "" : Native.exception(status).nativeMessage();
        }
        if (status != bloom_h.BLOOM_OK()) {
            // Like Enum.valueOf, a bad name is the caller's argument error, worded by the library (it lists the names).
            throw new IllegalArgumentException(detail.isEmpty() ? "unknown file type \"" + name + "\"" : detail);
        }
        return of(code);
    }

    int code() {
        return code;
    }

    static FileType of(int code) {
        return Native.byCode(FileType.class, FileType::code, code, "file type");
    }
}

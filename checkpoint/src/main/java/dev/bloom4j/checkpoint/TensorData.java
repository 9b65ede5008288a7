package dev.bloom4j.checkpoint;

import java.util.Arrays;
import java.util.Objects;

/**
 * One named tensor to be written: its shape (row-major, outermost dimension first, as PyTorch and safetensors
 * list it; a {@code Linear} weight is {@code [out, in]}) and its values in that order.
 *
 * <p>The arrays are not copied; do not change them while a writer uses the record.
 *
 * <pre>{@code
 * var bias = new TensorData("ln_f.bias", new int[] {4}, new float[] {0.1f, 0f, -0.2f, 0.3f});
 * }</pre>
 *
 * @param name   tensor name as it appears in the file, e.g. {@code "h.0.mlp.dense_h_to_4h.weight"}
 * @param shape  dimensions, each {@code >= 0}; an empty array is a scalar
 * @param values {@code product(shape)} elements, row-major
 */
public record TensorData(String name, int[] shape, float[] values) {

    /** Validates that the name is usable and that {@code values} holds exactly {@code product(shape)} elements. */
    public TensorData {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(values, "values");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("tensor name is empty");
        }
        if (name.equals("__metadata__")) {
            // The safetensors header reserves this key for the string-to-string metadata map.
            throw new IllegalArgumentException("tensor name \"__metadata__\" is reserved by the safetensors format");
        }
        long count = 1;
        for (int dimension : shape) {
            if (dimension < 0) {
                throw new IllegalArgumentException(
                        "tensor " + name + ": negative dimension in shape " + Arrays.toString(shape));
            }
            count *= dimension;
            if (count > Integer.MAX_VALUE) {
                // A Java array cannot hold more, so no values array can match this shape.
                throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape)
                        + " has more elements than a float[] can hold");
            }
        }
        if (count != values.length) {
            throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape) + " holds "
                    + count + " elements but " + values.length + " values were given");
        }
    }

    /** Number of elements. */
    public int elementCount() {
        return values.length;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TensorData that && name.equals(that.name) && Arrays.equals(shape, that.shape)
                && Arrays.equals(values, that.values);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + Arrays.hashCode(shape)) + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        return "TensorData[" + name + " " + Arrays.toString(shape) + "]";
    }
}

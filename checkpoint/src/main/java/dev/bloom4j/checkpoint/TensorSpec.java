package dev.bloom4j.checkpoint;

import java.util.Arrays;
import java.util.Objects;

/**
 * The name and shape of a tensor whose values are streamed into a file later, tensor by tensor or piece by piece
 * (see {@link SafetensorsWriter#open}). Unlike {@link TensorData} it holds no values, so a shape may have more
 * elements than a Java array can.
 *
 * <pre>{@code
 * var embeddings = new TensorSpec("word_embeddings.weight", new long[] {250880, 4096});   // 1.03e9 elements
 * }</pre>
 *
 * @param name  tensor name as it appears in the file
 * @param shape dimensions, outermost first, each {@code >= 0}; an empty array is a scalar
 */
public record TensorSpec(String name, long[] shape) {

    /** Validates the name and the dimensions, and copies the shape. */
    public TensorSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(shape, "shape");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("tensor name is empty");
        }
        if (name.equals("__metadata__")) {
            throw new IllegalArgumentException("tensor name \"__metadata__\" is reserved by the safetensors format");
        }
        long count = 1;
        for (long dimension : shape) {
            if (dimension < 0) {
                throw new IllegalArgumentException(
                        "tensor " + name + ": negative dimension in shape " + Arrays.toString(shape));
            }
            try {
                count = Math.multiplyExact(count, dimension);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape)
                        + " overflows a 64-bit element count", e);
            }
        }
        shape = shape.clone();
    }

    /** The spec of a tensor given with its values. */
    public static TensorSpec of(TensorData tensor) {
        long[] shape = new long[tensor.shape().length];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = tensor.shape()[i];
        }
        return new TensorSpec(tensor.name(), shape);
    }

    /** A copy of the dimensions. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements: the product of the dimensions. */
    public long elementCount() {
        long count = 1;
        for (long dimension : shape) {
            count *= dimension;
        }
        return count;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TensorSpec that && name.equals(that.name) && Arrays.equals(shape, that.shape);
    }

    @Override
    public int hashCode() {
        return 31 * name.hashCode() + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return "TensorSpec[" + name + " " + Arrays.toString(shape) + "]";
    }
}

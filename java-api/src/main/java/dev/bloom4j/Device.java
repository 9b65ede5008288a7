package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;

/**
 * A compute device the native library can use ({@code bloom_device_info}), as {@link BloomRuntime#devices()} lists
 * them: the GPUs of a CUDA-enabled library (none in a CPU-only build, or on a machine without a GPU or driver), then
 * the CPU.
 * {@snippet :
 * for (Device d : BloomRuntime.devices()) {
 *     System.out.printf("%d %s %s: %s, %.1f of %.1f GiB free%n", d.index(), d.type(), d.name(), d.description(),
 *             d.memoryFree() / 1073741824.0, d.memoryTotal() / 1073741824.0);
 * }
 * }
 *
 * @param index       position in {@link BloomRuntime#devices()}, as {@code bloom_device_get_info} takes it
 * @param name        ggml's device name, e.g. {@code CPU}, {@code CUDA0}
 * @param description e.g. the CPU model, or {@code NVIDIA H100 80GB HBM3}
 * @param type        what kind of device it is
 * @param memoryFree  free memory in bytes, as the device reports it
 * @param memoryTotal total memory in bytes
 */
public record Device(int index, String name, String description, Type type, long memoryFree, long memoryTotal) {

    /** The kind of a device ({@code bloom_device_type}). */
    public enum Type {
        /** The host CPU. */
        CPU(bloom_h.BLOOM_DEVICE_CPU()),
        /** A GPU with its own memory; where {@link LoadOptions#gpuLayers()} places layers. */
        GPU(bloom_h.BLOOM_DEVICE_GPU()),
        /** An integrated GPU sharing host memory. */
        IGPU(bloom_h.BLOOM_DEVICE_IGPU()),
        /** An accelerator working alongside the CPU, such as a BLAS library. */
        ACCEL(bloom_h.BLOOM_DEVICE_ACCEL());

        private final int code;

        Type(int code) {
            this.code = code;
        }

        int code() {
            return code;
        }

        static Type of(int code) {
            return Native.byCode(Type.class, Type::code, code, "device type");
        }
    }
}

package dev.bloom4j;

import dev.bloom4j.bindings.LoadedLibrary;
import dev.bloom4j.bindings.NativeLibrary;
import dev.bloom4j.bindings.internal.bloom_device_info;
import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Facts about the native library this JVM runs: its version, build and where it was loaded from. Calling any
 * method loads the library if that has not happened yet.
 * {@snippet :
 * System.out.println("bloom4j native " + BloomRuntime.version());
 * System.out.println("loaded from " + BloomRuntime.libraryPath()
 *         + BloomRuntime.libraryVariant().map(v -> " (" + v + ")").orElse(""));
 * }
 */
public final class BloomRuntime {

    private BloomRuntime() {}

    /** {@code bloom_version_string()}: "MAJOR.MINOR.PATCH (ggml X.Y.Z, cpu features)". */
    public static String version() {
        Native.init();
        return Native.cString(bloom_h.bloom_version_string());
    }

    /** The ABI version the library reports ({@code bloom_abi_version()}); the loader checked it matches. */
    public static int abiVersion() {
        return loaded().abiVersion();
    }

    /** The libbloom.so file that was loaded (for the jar's library, the extracted copy). */
    public static Path libraryPath() {
        return loaded().path();
    }

    /** Where the library came from, e.g. a system property, an environment variable or a jar resource. */
    public static String libraryOrigin() {
        return loaded().origin();
    }

    /** The CPU variant of the jar's library ({@code x86-64-v3}, {@code x86-64-v2}); empty for a library given by path. */
    public static Optional<String> libraryVariant() {
        return loaded().variant();
    }

    /**
     * The compute devices the library can use, GPUs first, the CPU last. A CUDA-enabled library on a machine with
     * no GPU or no driver lists the CPU alone, and models then run there.
     */
    public static List<Device> devices() {
        Native.init();
        List<Device> devices = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = bloom_device_info.allocate(arena);
            int n = bloom_h.bloom_device_count();
            for (int i = 0; i < n; i++) {
                Native.check(bloom_h.bloom_device_get_info(info, i));
                devices.add(new Device(i, bloom_device_info.name(info).getString(0),
                        bloom_device_info.description(info).getString(0),
                        Device.Type.of(bloom_device_info.type(info)), bloom_device_info.memory_free(info),
                        bloom_device_info.memory_total(info)));
            }
        }
        return List.copyOf(devices);
    }

    private static LoadedLibrary loaded() {
        Native.init();
        return NativeLibrary.info();
    }
}

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

    /**
     * The variant of the jar's library that this machine loaded ({@code x86-64-v4-vnni-bf16}, {@code x86-64-v4},
     * {@code x86-64-v3}, {@code x86-64-v2}, {@code cuda}, {@code native}; on aarch64
     * {@code armv8.2-a-dotprod-fp16-i8mm-sve}, {@code armv8.2-a-dotprod-fp16-i8mm}, {@code armv8.2-a-dotprod-fp16},
     * {@code armv8-a}); empty for a library given by path.
     */
    public static Optional<String> libraryVariant() {
        return loaded().variant();
    }

    /**
     * Why the CUDA library on the class path (the {@code bloom4j-natives-cuda} jar) was not loaded and a CPU variant
     * was, e.g. {@code no NVIDIA driver: libcuda.so.1: cannot open shared object file: No such file or directory};
     * empty when there is no CUDA library, it was loaded, or {@code bloom4j.library.variant} excluded it. The loader
     * takes the CUDA library only where the NVIDIA driver lists a GPU with code in it and the CUDA runtime libraries
     * load, so a class path with it runs on machines with and without GPUs.
     */
    public static Optional<String> cudaNotUsed() {
        return NativeLibrary.cudaNotUsed();
    }

    /**
     * The compute devices the library can use: GPUs, then the CPU, then the devices of the RPC servers added to this
     * process so far ({@link #addRpcServer}, or a load with {@link LoadOptions#rpcServers()}), named {@code RPC<n>},
     * described by their server's {@code host:port}. A CUDA-enabled library on a machine with no GPU or no driver
     * lists no GPU, and models then run on the CPU.
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

    /**
     * Mean seconds of one matrix product {@code [m x k] x [k x n]} on {@code device}, weights in {@code weights},
     * f32 activations ({@code 2mnk} floating-point operations), over {@code reps} timed runs after a warm-up, through
     * the same ggml backend that runs models: the achievable-peak reference for a model's TFLOP/s
     * ({@code bloom_bench_matmul}).
     * {@snippet :
     * Device gpu = BloomRuntime.devices().get(0);
     * double s = BloomRuntime.measureMatmul(gpu, 2048, 4096, 12288, WeightType.BF16, 0, 10);
     * System.out.printf("%.1f TFLOP/s%n", 2.0 * 2048 * 4096 * 12288 / s / 1e12);
     * }
     *
     * @param threads CPU threads (0 = all cores); GPUs ignore it
     * @throws InvalidArgumentException for a shape out of range, {@code k} not a multiple of the type's block
     *                                  size, or {@code reps < 1}
     */
    public static double measureMatmul(Device device, long m, long n, long k, WeightType weights, int threads,
                                       int reps) {
        Native.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(java.lang.foreign.ValueLayout.JAVA_DOUBLE);
            Native.check(bloom_h.bloom_bench_matmul(out, device.index(), m, n, k, weights.code(), threads, reps));
            return out.get(java.lang.foreign.ValueLayout.JAVA_DOUBLE, 0);
        }
    }

    /**
     * Mean seconds of one copy of {@code bytes} between two buffers on {@code device} ({@code bytes} read and
     * {@code bytes} written), over {@code reps} timed runs after a warm-up: the achievable-bandwidth reference for a
     * model's decode ({@code bloom_bench_copy}).
     *
     * @param bytes   a multiple of 4
     * @param threads CPU threads (0 = all cores); GPUs ignore it
     */
    public static double measureCopy(Device device, long bytes, int threads, int reps) {
        Native.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(java.lang.foreign.ValueLayout.JAVA_DOUBLE);
            Native.check(bloom_h.bloom_bench_copy(out, device.index(), bytes, threads, reps));
            return out.get(java.lang.foreign.ValueLayout.JAVA_DOUBLE, 0);
        }
    }

    /**
     * Connects to a ggml RPC server ({@code bloom rpc-server} or llama.cpp's {@code rpc-server}) and adds its devices
     * to {@link #devices()}, e.g. to list their memory before a load ({@code bloom devices --rpc}). Adding a server
     * twice is a no-op. Models use a server's devices only when {@link LoadOptions#rpcServers()} names it. The
     * connection stays open until the JVM exits (ggml shares one per server); a server serves one client at a time.
     *
     * @param server {@code "host:port"}
     * @param timeout bound on reaching the server and on its handshake
     * @throws RemoteDeviceException the server cannot be reached, speaks another ggml RPC protocol version, or does
     *                               not answer in time; the message names it
     * @throws InvalidArgumentException {@code server} is not {@code host:port}
     */
    public static void addRpcServer(String server, java.time.Duration timeout) {
        java.util.Objects.requireNonNull(server, "server");
        Native.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = Native.utf8(arena, server);
            Native.check(bloom_h.bloom_rpc_add_server(text, text.byteSize(), Math.toIntExact(timeout.toMillis())));
        }
    }

    /**
     * Serves devices of this host to ggml RPC clients ({@code --rpc} of bloom4j or llama.cpp) and does not return
     * while it serves: run it on a thread of its own, or as {@code bloom rpc-server}. The protocol has neither
     * authentication nor encryption: bind a loopback or private address on a trusted network only. One client at a
     * time.
     *
     * @param host     the IPv4 address to listen on: {@code 127.0.0.1} (this host only) or e.g. {@code 0.0.0.0}
     * @param port     the TCP port
     * @param devices  names of the devices to serve, as {@link Device#name()} gives them ({@code CPU},
     *                 {@code CUDA0}); empty for every GPU of this host, or the CPU without one
     * @param threads  CPU threads (0 = all cores)
     * @param cacheDir where the server keeps large tensors it received, so that a client loading the same weights
     *                 again sends only their hashes; {@code null} for none
     * @throws InvalidArgumentException an address that is not IPv4, or an unknown device name
     * @throws ModelNotFoundException   the port cannot be bound (in use, or a privileged port)
     */
    public static void serveRpc(String host, int port, List<String> devices, int threads, Path cacheDir) {
        Native.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment endpoint = Native.utf8(arena, host + ":" + port);
            MemorySegment names = Native.utf8(arena, String.join(",", devices));
            MemorySegment cache = cacheDir == null ? MemorySegment.NULL : Native.utf8(arena, cacheDir.toString());
            Native.check(bloom_h.bloom_rpc_serve(endpoint, endpoint.byteSize(), names, names.byteSize(), threads,
                    cache, cacheDir == null ? 0 : cache.byteSize()));
        }
    }

    /** The ggml RPC protocol version this library speaks, e.g. {@code "7.0.0"}; empty without RPC support. */
    public static Optional<String> rpcProtocolVersion() {
        Native.init();
        int v = bloom_h.bloom_rpc_protocol_version();
        return v < 0 ? Optional.empty() : Optional.of(v / 10000 + "." + v / 100 % 100 + "." + v % 100);
    }

    private static LoadedLibrary loaded() {
        Native.init();
        return NativeLibrary.info();
    }
}

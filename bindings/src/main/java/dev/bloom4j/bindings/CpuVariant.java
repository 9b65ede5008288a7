package dev.bloom4j.bindings;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * One build of libbloom.so that a jar may carry, at {@code native/<platform>/<name>/libbloom.so}, with the
 * {@code /proc/cpuinfo} flags a CPU needs to run it.
 *
 * <p>The flags are the instruction sets that CMake turns on for the variant (cmake/cpu-variants.cmake): running a
 * build on a CPU without one of them dies with SIGILL somewhere inside ggml, long after the load succeeded, so the
 * loader checks them first. On x86-64 they are words of the {@code flags} line; on aarch64 of the {@code Features}
 * line, the kernel's names of the hardware capabilities (AT_HWCAP) that ggml itself tests: {@code asimddp} is
 * dotprod, {@code fphp} and {@code asimdhp} fp16, then {@code i8mm} and {@code sve}.
 *
 * <p>The {@value #CUDA} variant is the x86-64-v3 build with ggml's CUDA backend as well, from the separate
 * bloom4j-natives-cuda jar. The loader takes it only where the NVIDIA driver lists a GPU it has code for
 * ({@link CudaCheck}) and the CUDA runtime libraries (libcudart, libcublas) load; otherwise the next (CPU) variant.
 *
 * @param name          the directory name in the jar; for CPU builds the value of CMake's {@code BLOOM_CPU_VARIANT}
 * @param requiredFlags {@code /proc/cpuinfo} flags the CPU must report; empty for a build made for this machine
 * @param description   a few words for messages
 * @param origin        where a variant that not every jar has comes from, for "not in the jar (...)" messages, e.g.
 *                      {@code only a build with -Pnative has it}; empty for the variants every build has
 */
record CpuVariant(String name, Set<String> requiredFlags, String description, String origin) {

    /** The name of the variant with the CUDA backend. */
    static final String CUDA = "cuda";

    // The /proc/cpuinfo flags of each x86-64 level, as cmake/cpu-variants.cmake compiles them (CpuVariantTest
    // compares the two).
    private static final Set<String> X86_64_V2 = Set.of("sse4_2");
    private static final Set<String> X86_64_V3 = union(X86_64_V2, "avx", "avx2", "fma", "f16c", "bmi2");
    private static final Set<String> X86_64_V4 = union(X86_64_V3, "avx512f", "avx512cd", "avx512vl", "avx512dq",
            "avx512bw");
    private static final Set<String> X86_64_V4_VNNI_BF16 = union(X86_64_V4, "avx512_vnni", "avx512_bf16");
    // The /proc/cpuinfo Features of each aarch64 variant, the same way. armv8.2-a brings LSE atomics, CRC32 and RDMA,
    // which the compiler may use unasked.
    private static final Set<String> ARMV8_A = Set.of("fp", "asimd");
    private static final Set<String> ARMV8_2_A_DOTPROD_FP16 = union(ARMV8_A, "atomics", "crc32", "asimdrdm",
            "asimddp", "fphp", "asimdhp");
    private static final Set<String> ARMV8_2_A_DOTPROD_FP16_I8MM = union(ARMV8_2_A_DOTPROD_FP16, "i8mm");
    private static final Set<String> ARMV8_2_A_DOTPROD_FP16_I8MM_SVE = union(ARMV8_2_A_DOTPROD_FP16_I8MM, "sve");

    CpuVariant {
        Objects.requireNonNull(name, "name");
        requiredFlags = Set.copyOf(requiredFlags);
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(origin, "origin");
    }

    /** A variant that every build of the jar has. */
    CpuVariant(String name, Set<String> requiredFlags, String description) {
        this(name, requiredFlags, description, "");
    }

    /** Whether this is the build with the CUDA backend. */
    boolean isCuda() {
        return name.equals(CUDA);
    }

    /**
     * Variants per platform ({@code <os>-<arch>}), in order of preference: the loader takes the first one that this
     * CPU can run, the jar holds and the dynamic loader accepts. A new variant (an AVX-512 build, say) is one more
     * entry here and one more CMake build in bindings/pom.xml.
     */
    static final Map<String, List<CpuVariant>> BY_PLATFORM = Map.of(
            "linux-x86_64", List.of(
                    // In its own artifact (natives-cuda/); its CPU code is x86-64-v3.
                    new CpuVariant(CUDA, X86_64_V3, "x86-64-v3 + CUDA, needs libcudart.so.13 and libcublas.so.13",
                            "it comes in the bloom4j-natives-cuda jar"),
                    // Only in jars built with -Pnative, on and for the machine that runs them.
                    new CpuVariant("native", Set.of(), "-march=native, from a local -Pnative build",
                            "only a build with -Pnative has it"),
                    new CpuVariant("x86-64-v4-vnni-bf16", X86_64_V4_VNNI_BF16, "AVX-512 + VNNI + BF16"),
                    new CpuVariant("x86-64-v4", X86_64_V4, "AVX-512 F/CD/VL/DQ/BW"),
                    new CpuVariant("x86-64-v3", X86_64_V3, "AVX2 + FMA + F16C"),
                    new CpuVariant("x86-64-v2", X86_64_V2, "SSE4.2, no AVX")),
            "linux-aarch64", List.of(
                    // Cross-compiled on x86-64 (bindings/pom.xml, profile aarch64); no -Pnative slot: the jar is
                    // not built on aarch64 hosts.
                    new CpuVariant("armv8.2-a-dotprod-fp16-i8mm-sve", ARMV8_2_A_DOTPROD_FP16_I8MM_SVE,
                            "dotprod + fp16 + i8mm + SVE"),
                    new CpuVariant("armv8.2-a-dotprod-fp16-i8mm", ARMV8_2_A_DOTPROD_FP16_I8MM, "dotprod + fp16 + i8mm"),
                    new CpuVariant("armv8.2-a-dotprod-fp16", ARMV8_2_A_DOTPROD_FP16, "dotprod + fp16"),
                    new CpuVariant("armv8-a", ARMV8_A, "NEON only")));

    private static Set<String> union(Set<String> base, String... more) {
        Set<String> all = new TreeSet<>(base);
        all.addAll(Arrays.asList(more));
        return Set.copyOf(all);
    }

    /** The flags of {@code cpuFlags} this variant needs but does not find, sorted; empty if it can run. */
    Set<String> missingFlags(Set<String> cpuFlags) {
        Set<String> missing = new TreeSet<>(requiredFlags);
        missing.removeAll(cpuFlags);
        return missing;
    }

    /**
     * The variants of {@code platform} that a CPU with these flags can run, best first. With unknown flags (no
     * readable /proc/cpuinfo) only the variants that need no flag and the last, most compatible one are returned.
     */
    static List<CpuVariant> runnable(String platform, Optional<Set<String>> cpuFlags) {
        List<CpuVariant> all = BY_PLATFORM.getOrDefault(platform, List.of());
        if (cpuFlags.isEmpty()) {
            return all.stream()
                    .filter(v -> v.requiredFlags().isEmpty() || v == all.getLast())
                    .toList();
        }
        return all.stream().filter(v -> v.missingFlags(cpuFlags.get()).isEmpty()).toList();
    }

    /**
     * The CPU flags listed in the text of {@code /proc/cpuinfo}: the words after the first {@code flags :} line on
     * x86-64, {@code Features :} on aarch64 (all cores of one machine report the same: on aarch64 the kernel lists
     * the features every core has). Empty if there is no such line.
     */
    static Optional<Set<String>> parseCpuInfoFlags(String cpuinfo) {
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            String key = colon > 0 ? line.substring(0, colon).strip() : "";
            if (key.equals("flags") || key.equals("Features")) {
                String flags = line.substring(colon + 1).strip();
                return Optional.of(flags.isEmpty() ? Set.of() : Set.copyOf(Arrays.asList(flags.split("\\s+"))));
            }
        }
        return Optional.empty();
    }
}

package dev.bloom4j.bindings;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuVariantTest {

    // Abridged from real machines' /proc/cpuinfo.
    private static final String HASWELL = """
            processor	: 0
            vendor_id	: GenuineIntel
            model name	: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz
            flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse \
            sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma \
            cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm bmi1 avx2 smep \
            bmi2 erms invpcid xsaveopt
            bugs		: cpu_meltdown spectre_v1
            
            processor	: 1
            flags		: fpu vme de pse tsc
            """;
    private static final String NEHALEM = """
            processor	: 0
            model name	: Intel(R) Xeon(R) CPU X5570 @ 2.93GHz
            flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx \
            fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc pni dtes64 monitor ds_cpl vmx est tm2 ssse3 \
            cx16 xtpr pdcm dca sse4_1 sse4_2 popcnt lahf_lm
            """;
    // Ivy Bridge: AVX and F16C but no AVX2, FMA or BMI2.
    private static final String IVY_BRIDGE_FLAGS = "flags : sse2 ssse3 sse4_1 sse4_2 popcnt avx f16c";

    // AVX-512 machines, abridged from real /proc/cpuinfo flags lines. Sapphire Rapids and Zen 4 have everything the
    // best variant needs; Cascade Lake has AVX-512 and VNNI but no BF16; Skylake-SP has AVX-512 but no VNNI; Knights
    // Landing (Xeon Phi) has AVX-512F and CD but not VL, DQ or BW, which x86-64-v4 needs.
    private static final String V3 = "sse2 ssse3 sse4_1 sse4_2 popcnt avx f16c fma avx2 bmi1 bmi2 ";
    private static final String SAPPHIRE_RAPIDS = "flags : " + V3 + "avx512f avx512dq avx512ifma avx512cd avx512bw "
            + "avx512vl avx_vnni avx512_bf16 avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq "
            + "amx_bf16 avx512_fp16 amx_tile amx_int8";
    private static final String ZEN4 = "flags : " + V3 + "avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl "
            + "avx512_bf16 avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq";
    private static final String CASCADE_LAKE = "flags : " + V3 + "avx512f avx512dq avx512cd avx512bw avx512vl "
            + "avx512_vnni";
    private static final String SKYLAKE_SP = "flags : " + V3 + "avx512f avx512dq avx512cd avx512bw avx512vl";
    private static final String KNIGHTS_LANDING = "flags : " + V3 + "avx512f avx512pf avx512er avx512cd";

    private static List<String> names(List<CpuVariant> variants) {
        return variants.stream().map(CpuVariant::name).toList();
    }

    private static CpuVariant variant(String name) {
        return CpuVariant.BY_PLATFORM.get("linux-x86_64").stream().filter(v -> v.name().equals(name)).findFirst()
                .orElseThrow();
    }

    @Test
    void cudaVariantComesFirstAndIsTheOnlyCudaOne() {
        List<CpuVariant> all = CpuVariant.BY_PLATFORM.get("linux-x86_64");
        assertEquals("cuda", all.getFirst().name());
        assertEquals(List.of("cuda"), names(all.stream().filter(CpuVariant::isCuda).toList()));
        assertEquals("-Pcuda", all.getFirst().profile());
        assertEquals("", variant("x86-64-v3").profile());
    }

    @Test
    void parsesTheFirstFlagsLine() {
        Set<String> flags = CpuVariant.parseCpuInfoFlags(HASWELL).orElseThrow();
        assertTrue(flags.containsAll(Set.of("avx2", "fma", "f16c", "bmi2", "sse4_2")), flags::toString);
        assertEquals(Optional.empty(), CpuVariant.parseCpuInfoFlags("processor : 0\nBogoMIPS : 50.00\n"));
    }

    @Test
    void avx2MachinePrefersCudaThenV3ThenV2() {
        assertEquals(List.of("cuda", "native", "x86-64-v3", "x86-64-v2"),
                names(CpuVariant.runnable("linux-x86_64", CpuVariant.parseCpuInfoFlags(HASWELL))));
    }

    @Test
    void avx512MachinesGetTheBestVariantWhoseEveryFlagTheyHave() {
        List<String> v4Down = List.of("x86-64-v4", "x86-64-v3", "x86-64-v2");
        List<String> all = new ArrayList<>(List.of("cuda", "native", "x86-64-v4-vnni-bf16"));
        all.addAll(v4Down);
        for (String cpu : List.of(SAPPHIRE_RAPIDS, ZEN4)) {
            assertEquals(all, names(CpuVariant.runnable("linux-x86_64", CpuVariant.parseCpuInfoFlags(cpu))), cpu);
        }
        List<String> withoutBf16 = new ArrayList<>(List.of("cuda", "native"));
        withoutBf16.addAll(v4Down);
        Set<String> cascade = CpuVariant.parseCpuInfoFlags(CASCADE_LAKE).orElseThrow();
        assertEquals(withoutBf16, names(CpuVariant.runnable("linux-x86_64", Optional.of(cascade))));
        assertEquals(Set.of("avx512_bf16"), variant("x86-64-v4-vnni-bf16").missingFlags(cascade));
        Set<String> skylake = CpuVariant.parseCpuInfoFlags(SKYLAKE_SP).orElseThrow();
        assertEquals(withoutBf16, names(CpuVariant.runnable("linux-x86_64", Optional.of(skylake))),
                "AVX-512F without VNNI: x86-64-v4, never the VNNI build");
        assertEquals(Set.of("avx512_bf16", "avx512_vnni"), variant("x86-64-v4-vnni-bf16").missingFlags(skylake));
        Set<String> knl = CpuVariant.parseCpuInfoFlags(KNIGHTS_LANDING).orElseThrow();
        assertEquals(List.of("cuda", "native", "x86-64-v3", "x86-64-v2"),
                names(CpuVariant.runnable("linux-x86_64", Optional.of(knl))), "AVX-512F alone is not x86-64-v4");
        assertEquals(Set.of("avx512bw", "avx512dq", "avx512vl"), variant("x86-64-v4").missingFlags(knl));
    }

    @Test
    void theFlagsAreTheOnesCmakeCompilesEachVariantFor() throws IOException {
        // cmake/cpu-variants.cmake: set(BLOOM_X86_VARIANTS ...) and set(BLOOM_CPU_FLAGS_<variant> ${...} flag ...).
        String cmake = Files.readString(Path.of("..", "cmake", "cpu-variants.cmake"));
        Map<String, List<String>> sets = new HashMap<>();
        Matcher m = Pattern.compile("(?m)^set\\((BLOOM_X86_VARIANTS|BLOOM_CPU_FLAGS_[\\w.-]+)\\s+([^)#]*)\\)")
                .matcher(cmake);
        while (m.find()) {
            sets.put(m.group(1), Arrays.asList(m.group(2).strip().split("\\s+")));
        }
        List<String> cmakeOrder = sets.get("BLOOM_X86_VARIANTS");
        assertEquals(List.of("x86-64-v4-vnni-bf16", "x86-64-v4", "x86-64-v3", "x86-64-v2"), cmakeOrder);
        List<String> javaOrder = names(CpuVariant.BY_PLATFORM.get("linux-x86_64")).stream()
                .filter(cmakeOrder::contains).toList();
        assertEquals(cmakeOrder, javaOrder, "the loader tries the variants in CMake's order");
        for (String v : cmakeOrder) {
            assertEquals(expand(sets, "BLOOM_CPU_FLAGS_" + v), variant(v).requiredFlags(), v);
        }
        assertEquals(variant("x86-64-v3").requiredFlags(), variant("cuda").requiredFlags(),
                "the CUDA build's CPU code is x86-64-v3");
    }

    /** A CMake list with its ${...} references replaced by their values. */
    private static Set<String> expand(Map<String, List<String>> sets, String name) {
        Set<String> out = new LinkedHashSet<>();
        for (String item : sets.get(name)) {
            if (item.startsWith("${") && item.endsWith("}")) {
                out.addAll(expand(sets, item.substring(2, item.length() - 1)));
            } else {
                out.add(item);
            }
        }
        return out;
    }

    @Test
    void machineWithoutAvx2GetsOnlyV2() {
        assertEquals(List.of("native", "x86-64-v2"),
                names(CpuVariant.runnable("linux-x86_64", CpuVariant.parseCpuInfoFlags(NEHALEM))));
        Optional<Set<String>> ivy = CpuVariant.parseCpuInfoFlags(IVY_BRIDGE_FLAGS);
        assertEquals(List.of("native", "x86-64-v2"), names(CpuVariant.runnable("linux-x86_64", ivy)));
        assertEquals(Set.of("avx2", "bmi2", "fma"), variant("x86-64-v3").missingFlags(ivy.orElseThrow()));
        assertEquals(Set.of("avx2", "bmi2", "fma"), variant("cuda").missingFlags(ivy.orElseThrow()),
                "the CUDA build's CPU code is x86-64-v3");
    }

    @Test
    void machineWithoutSse42GetsNoPackagedVariant() {
        assertEquals(List.of("native"),
                names(CpuVariant.runnable("linux-x86_64", Optional.of(Set.of("sse2", "ssse3")))));
    }

    @Test
    void unknownFlagsTryOnlyTheMostCompatibleVariant() {
        assertEquals(List.of("native", "x86-64-v2"), names(CpuVariant.runnable("linux-x86_64", Optional.empty())));
    }

    @Test
    void unknownPlatformHasNoVariants() {
        assertEquals(List.of(), CpuVariant.runnable("linux-aarch64", Optional.of(Set.of("neon"))));
    }
}

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

    // aarch64 machines, abridged from real /proc/cpuinfo (Features lines as Linux prints them). Cortex-A72 (Graviton 1,
    // Raspberry Pi 4) is plain armv8.0; Neoverse N1 (Graviton 2, Ampere Altra) has dotprod and fp16; Neoverse V1
    // (Graviton 3) adds i8mm and SVE; an Apple M2 in a Linux VM has i8mm but no SVE; Cortex-A55 has dotprod and fp16
    // too. The made-up ones: dotprod without fp16, and SVE without i8mm (like A64FX, which has no dotprod either).
    private static final String CORTEX_A72 = """
            processor	: 0
            BogoMIPS	: 166.66
            Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
            CPU implementer	: 0x41
            CPU architecture: 8
            CPU part	: 0xd08
            """;
    private static final String NEOVERSE_N1 = """
            processor	: 0
            BogoMIPS	: 243.75
            Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop \
            asimddp ssbs
            CPU implementer	: 0x41
            CPU part	: 0xd0c
            """;
    private static final String NEOVERSE_V1 = "Features : fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
            + "asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc "
            + "flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng";
    private static final String APPLE_M2_VM = "Features : fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
            + "asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 asimddp sha512 asimdfhm dit uscat ilrcpc flagm sb "
            + "paca pacg dcpodp flagm2 frint i8mm bf16 bti ecv";
    private static final String DOTPROD_WITHOUT_FP16 = "Features : fp asimd evtstrm crc32 atomics cpuid asimdrdm "
            + "asimddp";
    private static final String SVE_WITHOUT_I8MM = "Features : fp asimd evtstrm sha1 sha2 crc32 atomics fphp "
            + "asimdhp cpuid asimdrdm fcma dcpop sve";
    private static final String ARM = "linux-aarch64";

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
        assertEquals("it comes in the bloom4j-natives-cuda jar", all.getFirst().origin());
        assertEquals("", variant("x86-64-v3").origin());
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
        Matcher m = Pattern.compile(
                        "(?m)^set\\((BLOOM_X86_VARIANTS|BLOOM_AARCH64_VARIANTS|BLOOM_CPU_FLAGS_[\\w.-]+)\\s+([^)#]*)\\)")
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

        List<String> armOrder = sets.get("BLOOM_AARCH64_VARIANTS");
        assertEquals(List.of("armv8.2-a-dotprod-fp16-i8mm-sve", "armv8.2-a-dotprod-fp16-i8mm",
                "armv8.2-a-dotprod-fp16", "armv8-a"), armOrder);
        assertEquals(armOrder, names(CpuVariant.BY_PLATFORM.get(ARM)), "the loader tries the variants in CMake's order");
        for (String v : armOrder) {
            assertEquals(expand(sets, "BLOOM_CPU_FLAGS_" + v), armVariant(v).requiredFlags(), v);
        }
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
        assertEquals(List.of(), CpuVariant.runnable("linux-riscv64", Optional.of(Set.of("rv64gcv"))));
    }

    private static CpuVariant armVariant(String name) {
        return CpuVariant.BY_PLATFORM.get(ARM).stream().filter(v -> v.name().equals(name)).findFirst().orElseThrow();
    }

    private static List<String> armRunnable(String cpuinfo) {
        return names(CpuVariant.runnable(ARM, CpuVariant.parseCpuInfoFlags(cpuinfo)));
    }

    @Test
    void parsesTheAarch64FeaturesLine() {
        Set<String> features = CpuVariant.parseCpuInfoFlags(NEOVERSE_N1).orElseThrow();
        assertTrue(features.containsAll(Set.of("fp", "asimd", "asimddp", "fphp", "asimdhp", "atomics")),
                features::toString);
        assertTrue(!features.contains("0xd0c") && !features.contains("8"), "only the Features line: " + features);
    }

    @Test
    void aarch64MachinesGetTheBestVariantWhoseEveryFeatureTheyHave() {
        List<String> dotprodDown = List.of("armv8.2-a-dotprod-fp16", "armv8-a");
        assertEquals(List.of("armv8-a"), armRunnable(CORTEX_A72), "Cortex-A72: armv8.0 only");
        assertEquals(dotprodDown, armRunnable(NEOVERSE_N1), "Neoverse N1: dotprod + fp16");
        assertEquals(List.of("armv8.2-a-dotprod-fp16-i8mm-sve", "armv8.2-a-dotprod-fp16-i8mm",
                "armv8.2-a-dotprod-fp16", "armv8-a"), armRunnable(NEOVERSE_V1), "Neoverse V1: everything");
        assertEquals(List.of("armv8.2-a-dotprod-fp16-i8mm", "armv8.2-a-dotprod-fp16", "armv8-a"),
                armRunnable(APPLE_M2_VM), "i8mm without SVE");
    }

    @Test
    void aarch64MachineMissingOneFeatureNeverGetsAVariantThatUsesIt() {
        assertEquals(List.of("armv8-a"), armRunnable(DOTPROD_WITHOUT_FP16), "dotprod without fp16");
        assertEquals(Set.of("asimdhp", "fphp"), armVariant("armv8.2-a-dotprod-fp16")
                .missingFlags(CpuVariant.parseCpuInfoFlags(DOTPROD_WITHOUT_FP16).orElseThrow()));
        assertEquals(List.of("armv8-a"), armRunnable(SVE_WITHOUT_I8MM), "SVE and fp16 without dotprod or i8mm");
        assertEquals(Set.of("asimddp", "i8mm"), armVariant("armv8.2-a-dotprod-fp16-i8mm-sve")
                .missingFlags(CpuVariant.parseCpuInfoFlags(SVE_WITHOUT_I8MM).orElseThrow()));
        // No NEON at all (some embedded cores): no packaged variant.
        assertEquals(List.of(), names(CpuVariant.runnable(ARM, Optional.of(Set.of("fp", "evtstrm")))));
    }

    @Test
    void aarch64WithUnknownFeaturesTriesOnlyTheBaseline() {
        assertEquals(List.of("armv8-a"), names(CpuVariant.runnable(ARM, Optional.empty())));
        // An x86 flags line read on an aarch64 JVM (never, but the chooser must not take it for features).
        assertEquals(List.of(), armRunnable(HASWELL));
    }
}

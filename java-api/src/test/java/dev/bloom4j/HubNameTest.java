package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Parsing of hub names, the choice of GGUF files, and the environment huggingface_hub reads. */
class HubNameTest {

    @Test
    void parsesRevisionAndQuantization() {
        assertEquals(new HubName("bigscience/bloom-560m", "main", null), HubName.parse("bigscience/bloom-560m"));
        assertEquals(new HubName("bigscience/bloom-560m", "refs/pr/7", null),
                HubName.parse("bigscience/bloom-560m@refs/pr/7"));
        assertEquals(new HubName("a/b-GGUF", "v1.0", "Q8_0"), HubName.parse("a/b-GGUF@v1.0:Q8_0"));
        assertEquals(new HubName("a/b-GGUF", "main", "q4_k_m"), HubName.parse("a/b-GGUF:q4_k_m"));
        assertEquals("a/b-GGUF@v1.0:Q8_0", HubName.parse("a/b-GGUF@v1.0:Q8_0").toString());
        assertEquals("models--bigscience--bloom-560m", HubName.parse("bigscience/bloom-560m").cacheFolderName());
        assertTrue(HubName.parse("a/b@0123456789abcdef0123456789abcdef01234567").isCommit());
        assertFalse(HubName.parse("a/b@main").isCommit());
    }

    @Test
    void badNamesSayWhatIsWrong() {
        assertBad("org/", "empty name");
        assertBad("/name", "empty organisation");
        assertBad("a/b/c", "2 '/' where a repository id has one");
        assertBad("bloom", "no '/' between organisation and name");
        assertBad("a/b@", "empty revision after '@'");
        assertBad("a/b@:q8_0", "empty revision after '@'");
        assertBad("a/b:", "empty quantization after ':'");
        assertBad("a/b--c", "no '--'");
        assertBad("a/-b", "'-b' is not a valid hub name part");
        assertBad("a/b@../x", "'..' path segment");
        assertBad("a/b c", "'b c' is not a valid hub name part");
    }

    private static void assertBad(String name, String why) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HubName.parse(name));
        assertTrue(e.getMessage().contains(why), e.getMessage());
        assertTrue(e.getMessage().contains("expected org/name[@revision][:quantization]"), e.getMessage());
    }

    @Test
    void hubNamesAndPathsAreToldApart() {
        assertTrue(HubModels.isHubName("bigscience/bloom-560m"));
        assertTrue(HubModels.isHubName("a/b/c")); // a bad hub name, reported as one
        assertFalse(HubModels.isHubName("bloom-560m"));
        assertFalse(HubModels.isHubName("./models/bloom"));
        assertFalse(HubModels.isHubName("/models/bloom"));
        assertFalse(HubModels.isHubName("~/models/bloom"));
        assertFalse(HubModels.isHubName("C:/models/bloom"));
    }

    @Test
    void quantizationLabels() {
        assertEquals("Q4_K_M", HubFiles.quantizationOf("bloom-560m-Q4_K_M.gguf"));
        assertEquals("Q8_0", HubFiles.quantizationOf("sub/bloom-560m.q8_0.gguf"));
        assertEquals("F16", HubFiles.quantizationOf("bloom-560m-f16.gguf"));
        assertEquals("IQ4_XS", HubFiles.quantizationOf("bloom-IQ4_XS.gguf"));
        assertNull(HubFiles.quantizationOf("bloom.gguf"));
    }

    @Test
    void ggufChoice() {
        var files = java.util.List.of("README.md", "m-Q4_K_S.gguf", "m-Q4_K_M.gguf", "m-Q8_0.gguf",
                "mmproj-m-f16.gguf");
        assertEquals("m-Q4_K_M.gguf", plan("o/m", files));
        assertEquals("m-Q4_K_S.gguf", plan("o/m:q4_k_s", files));
        assertEquals("m-Q8_0.gguf", plan("o/m:Q8_0", files));
        // The label wins over a substring: q4_k is in both names but is neither label, so it is ambiguous.
        ModelNotFoundException e = assertThrows(ModelNotFoundException.class, () -> plan("o/m:q4_k", files));
        assertTrue(e.getMessage().contains("matches 2 GGUF files"), e.getMessage());
        // Without Q4_K_M, the fallback order.
        assertEquals("m-Q8_0.gguf", plan("o/m", java.util.List.of("m-F16.gguf", "m-Q8_0.gguf")));
        assertEquals("m.gguf", plan("o/m", java.util.List.of("m.gguf")));
    }

    private static String plan(String name, java.util.List<String> files) {
        return ((HubFiles.Gguf) HubFiles.plan(HubName.parse(name), files, "on the hub")).file();
    }

    @Test
    void environment(@TempDir Path home) throws Exception {
        HubConfig defaults = HubConfig.fromEnvironment(Map.of());
        assertEquals(Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub"),
                defaults.cacheDirectory());
        assertEquals(URI.create("https://huggingface.co"), defaults.endpoint());
        assertFalse(defaults.offline());

        assertEquals(Path.of("/x/huggingface/hub"),
                HubConfig.fromEnvironment(Map.of("XDG_CACHE_HOME", "/x")).cacheDirectory());
        assertEquals(home.resolve("hub"),
                HubConfig.fromEnvironment(Map.of("XDG_CACHE_HOME", "/x", "HF_HOME", home.toString()))
                        .cacheDirectory());
        assertEquals(Path.of("/c"), HubConfig.fromEnvironment(Map.of("HF_HOME", home.toString(),
                "HF_HUB_CACHE", "/c")).cacheDirectory());
        assertEquals(URI.create("http://127.0.0.1:8080"),
                HubConfig.fromEnvironment(Map.of("HF_ENDPOINT", "http://127.0.0.1:8080/")).endpoint());

        assertNull(HubConfig.fromEnvironment(Map.of("HF_HOME", home.toString())).token());
        Files.writeString(home.resolve("token"), "hf_file\n");
        assertEquals("hf_file", HubConfig.fromEnvironment(Map.of("HF_HOME", home.toString())).token());
        HubConfig withToken = HubConfig.fromEnvironment(Map.of("HF_HOME", home.toString(), "HF_TOKEN", "hf_env"));
        assertEquals("hf_env", withToken.token());
        assertFalse(withToken.toString().contains("hf_env"), "the token stays out of toString");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HubConfig.fromEnvironment(Map.of("HF_ENDPOINT", "huggingface.co")));
        assertTrue(e.getMessage().contains("http:// or https://"), e.getMessage());
    }
}

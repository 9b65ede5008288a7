package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import org.junit.jupiter.api.Test;

/** FileType and WeightType agree with the native library's names and codes. */
class FileTypeTest {

    @Test
    void everyFileTypeHasLlamaQuantizesNameAndParsesBack() {
        assertEquals(17, FileType.values().length, "bloom_ftype has 17 values");
        for (FileType type : FileType.values()) {
            // The enum constants are spelled as the library names them, so a mismatch in code order shows here.
            assertEquals(type.name().toLowerCase(Locale.ROOT), type.nativeName());
            assertEquals(type, FileType.parse(type.nativeName()));
            assertEquals(type, FileType.parse(type.name()), "case-insensitive");
        }
        assertEquals(FileType.Q4_K_M, FileType.parse("Q4_k_M"));
    }

    @Test
    void unknownNamesAreRejectedWithTheValidOnesListed() {
        for (String bad : new String[] {"q4_k_x", "", "f16 ", "q4"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> FileType.parse(bad), bad);
            assertTrue(e.getMessage().contains("unknown file type"), e.getMessage());
            for (FileType type : FileType.values()) {
                assertTrue(e.getMessage().contains(type.nativeName()), e.getMessage() + " lacks " + type.nativeName());
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> FileType.parse("Q9_9"));
        assertTrue(e.getMessage().contains("q9_9"), "names the rejected value: " + e.getMessage());
        assertThrows(NullPointerException.class, () -> FileType.parse(null));
    }

    @Test
    void weightTypesCoverEveryNativeDtype() {
        String[] expected = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k",
                "q5_k", "q6_k"};
        assertEquals(expected.length, WeightType.values().length);
        for (int i = 0; i < expected.length; i++) {
            WeightType type = WeightType.values()[i];
            assertEquals(expected[i], type.nativeName());
            assertEquals(type, WeightType.of(i), "bloom_dtype value " + i);
        }
    }
}

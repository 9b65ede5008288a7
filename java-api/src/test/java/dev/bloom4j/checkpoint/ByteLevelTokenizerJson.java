package dev.bloom4j.checkpoint;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal BLOOM-style {@code tokenizer.json} for tests that need some tokenizer file: the four BLOOM specials
 * ({@code <unk>} 0, {@code <s>} 1, {@code </s>} 2, {@code <pad>} 3) and the 256 byte-level tokens (ids 4..259, in
 * byte order, spelled with GPT-2's byte-to-unicode map), no merges.
 */
final class ByteLevelTokenizerJson {

    private ByteLevelTokenizerJson() {
    }

    /** Number of tokens: 4 specials plus 256 bytes. */
    static final int TOKEN_COUNT = 260;

    static String json() {
        List<Object> added = new ArrayList<>();
        Map<String, Object> vocab = new LinkedHashMap<>();
        String[] specials = {"<unk>", "<s>", "</s>", "<pad>"};
        for (int id = 0; id < specials.length; id++) {
            Map<String, Object> token = new LinkedHashMap<>();
            token.put("id", id);
            token.put("content", specials[id]);
            token.put("single_word", false);
            token.put("lstrip", false);
            token.put("rstrip", false);
            token.put("normalized", false);
            token.put("special", true);
            added.add(token);
            vocab.put(specials[id], id);
        }
        char[] byteChars = byteToUnicode();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(byteChars[b]), 4 + b);
        }
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", false);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", List.of());
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", added);
        root.put("normalizer", null);
        root.put("pre_tokenizer", byteLevel);
        root.put("post_processor", byteLevel);
        root.put("decoder", byteLevel);
        root.put("model", model);
        return PythonJson.pythonIndented(root) + "\n";
    }

    /** GPT-2's reversible byte-to-character map: printable Latin-1 bytes map to themselves, others to U+0100+. */
    private static char[] byteToUnicode() {
        char[] map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char) b : (char) next++;
        }
        return map;
    }
}

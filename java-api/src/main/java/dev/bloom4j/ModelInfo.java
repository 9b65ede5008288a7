package dev.bloom4j;

import java.util.OptionalInt;

/**
 * The hyper-parameters of a loaded model, as {@link BloomModel#info()} reports them.
 * {@snippet :
 * ModelInfo info = model.info();
 * System.out.printf("%d layers, %d heads, embedding %d, %,d parameters (%s)%n",
 *         info.layerCount(), info.headCount(), info.embeddingSize(), info.parameterCount(), info.weightType());
 * int eos = info.eosToken().orElseThrow();
 * }
 *
 * @param vocabularySize          rows of the embedding matrix, which is also the width of a logits row
 * @param tokenizerVocabularySize entries in the tokenizer's vocabulary; at most {@code vocabularySize} (BLOOM pads
 *                                its embedding matrix, and the padding ids have no text)
 * @param trainingContextLength   the sequence length the model was trained with ({@code seq_length} in
 *                                config.json); ALiBi lets a session's context run past it
 * @param layerCount              transformer blocks
 * @param embeddingSize           width of the hidden state
 * @param headCount               attention heads per block
 * @param parameterCount          parameters, counting a tied output projection once
 * @param weightType              storage type of the weight matrices; in a GGUF file with a K-quant mix, where
 *                                types differ between matrices, that of the first block's query-key-value
 *                                projection
 * @param layerNormEpsilon        epsilon of the layer norms
 * @param bosToken                beginning-of-sequence token, if the tokenizer has one
 * @param eosToken                end-of-sequence token, if the tokenizer has one
 * @param padToken                padding token, if the tokenizer has one
 * @param unkToken                unknown token, if the tokenizer has one
 * @param repackedMatrices        weight matrices copied at load time into the interleaved layout of ggml's CPU
 *                                kernels ({@link LoadOptions#repack()}); 0 when none qualified or repacking was off
 * @param gpuLayers               transformer blocks whose weights are on a GPU ({@link LoadOptions#gpuLayers()});
 *                                0 when the model runs on the CPU
 * @param gpuDevice               the {@link Device#index()} of the (main) GPU, if any layer is on one
 * @param weightBytes             bytes of all weights as held (matrices in their stored type, a tied output
 *                                projection once, vectors in f32): what one decoded token reads, near enough
 */
public record ModelInfo(
        int vocabularySize,
        int tokenizerVocabularySize,
        int trainingContextLength,
        int layerCount,
        int embeddingSize,
        int headCount,
        long parameterCount,
        WeightType weightType,
        float layerNormEpsilon,
        OptionalInt bosToken,
        OptionalInt eosToken,
        OptionalInt padToken,
        OptionalInt unkToken,
        int repackedMatrices,
        int gpuLayers,
        OptionalInt gpuDevice,
        long weightBytes) {}

/**
 * bloom4j: run BLOOM language models from Java.
 *
 * <p>Load a Hugging Face BLOOM checkpoint directory or a GGUF file into a {@link dev.bloom4j.BloomModel}
 * (immutable, shareable between threads), open a {@link dev.bloom4j.BloomSession} per thread (a KV cache), and
 * generate:
 * {@snippet :
 * try (var model = BloomModel.load(Path.of("/path/to/bloom-560m"));
 *      var session = model.newSession()) {
 *     session.generate("The capital of France is", GenerationConfig.greedy().maxTokens(20), System.out::print);
 * }
 * }
 *
 * <ul>
 *   <li>Generation: {@link dev.bloom4j.BloomSession#generate} with a text callback or a
 *       {@link dev.bloom4j.TokenListener}, or {@link dev.bloom4j.BloomSession#stream} as a {@code Stream<Token>}
 *       whose {@code close()} cancels; both return or report a {@link dev.bloom4j.Completion}.</li>
 *   <li>Many requests at once: {@link dev.bloom4j.BatchSession} decodes the requests of any number of threads
 *       together in one KV cache ({@code submit} returns a {@code CompletableFuture}, {@code publish} a
 *       {@code Flow.Publisher}, {@code submitSamples} n samples of one prompt).</li>
 *   <li>Configuration: {@link dev.bloom4j.GenerationConfig}, {@link dev.bloom4j.SessionConfig},
 *       {@link dev.bloom4j.LoadOptions}; validated records whose defaults come from the native library.</li>
 *   <li>Scoring: {@link dev.bloom4j.BloomSession#logProbs}, {@link dev.bloom4j.BloomSession#score} (a
 *       {@link dev.bloom4j.Score}) and {@link dev.bloom4j.BloomSession#perplexity} (a
 *       {@link dev.bloom4j.Perplexity}, computed as llama.cpp's {@code llama-perplexity} does).</li>
 *   <li>Models by name: {@link dev.bloom4j.BloomModel#load(String)} and {@link dev.bloom4j.HubModels} resolve
 *       {@code org/name[@revision][:quantization]} through the Hugging Face hub cache that Python's
 *       {@code transformers} shares, downloading what it lacks ({@link dev.bloom4j.HubConfig}: {@code HF_HUB_CACHE},
 *       {@code HF_ENDPOINT}, {@code HF_TOKEN}, {@code HF_HUB_OFFLINE}).</li>
 *   <li>GGUF and quantization: {@link dev.bloom4j.BloomConverter} writes a checkpoint or GGUF file as a GGUF file
 *       of any {@link dev.bloom4j.FileType} ({@code f16}, {@code q8_0}, {@code q4_k_m}, ...).</li>
 *   <li>Low level: {@link dev.bloom4j.BloomSession#evaluate}, {@link dev.bloom4j.BloomSession#logits},
 *       {@link dev.bloom4j.BloomModel#tokenize}, {@link dev.bloom4j.BloomModel#decode}.</li>
 *   <li>Failures: the sealed {@link dev.bloom4j.BloomException} hierarchy carries the native status and message;
 *       misuse (closed handles, wrong thread, invalid arguments) is {@link IllegalStateException} or
 *       {@link IllegalArgumentException}.</li>
 * </ul>
 *
 * <p>Native log lines go to the {@link System.Logger} named {@code dev.bloom4j.native}; its level when bloom4j is
 * first used decides which lines the native side sends. Code using this package needs
 * {@code --enable-native-access=ALL-UNNAMED} on the java command line.
 */
package dev.bloom4j;

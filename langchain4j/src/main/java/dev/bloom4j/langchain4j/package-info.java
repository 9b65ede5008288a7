/**
 * LangChain4j models over an in-process {@link dev.bloom4j.BloomModel}: {@link BloomChatModel},
 * {@link BloomStreamingChatModel}, {@link BloomLanguageModel} and {@link BloomStreamingLanguageModel}. Chat messages
 * become a prompt through a {@link BloomChatTemplate} (BLOOMZ's plain instruction form by default; Jinja
 * {@code chat_template}s are not interpreted).
 * {@snippet :
 * try (BloomModel model = BloomModel.load(Path.of("bloomz-560m"))) {
 *     ChatModel chat = BloomChatModel.builder().model(model).build();
 *     System.out.println(chat.chat("Translate to English: Je t'aime."));
 * }
 * }
 */
package dev.bloom4j.langchain4j;

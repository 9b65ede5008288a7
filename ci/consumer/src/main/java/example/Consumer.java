package example;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomRuntime;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.checkpoint.DemoCheckpoint;
import java.nio.file.Path;

/** Generates a few tokens on bloom4j's demo checkpoint (random weights) through the published API. */
public final class Consumer {
    public static void main(String[] args) throws Exception {
        Path demo = DemoCheckpoint.ensure(Path.of(args[0]));
        try (var model = BloomModel.load(demo);
             var session = model.newSession()) {
            Completion c = session.generate("The capital of France is", GenerationConfig.greedy().maxTokens(8));
            System.out.println("bloom4j " + BloomRuntime.version() + " from " + BloomRuntime.libraryOrigin());
            System.out.println("generated " + c.generatedTokens() + " tokens (" + c.finishReason() + "): " + c.text());
            if (c.generatedTokens() < 1) {
                throw new IllegalStateException("nothing was generated");
            }
        }
    }
}

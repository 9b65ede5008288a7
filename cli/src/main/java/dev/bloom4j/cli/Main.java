package dev.bloom4j.cli;

import dev.bloom4j.BloomException;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The {@code bloom} command line: generate text, tokenize, dump logits, score text (log-probabilities,
 * perplexity), convert to GGUF, write random-weight checkpoints, describe a BLOOM model and measure batched
 * decoding.
 * {@snippet lang=shell :
 * ./bloom generate --model /models/bloom-560m --prompt "The capital of France is" --max-tokens 20
 * ./bloom generate --model bigscience/bloom-560m --prompt "The capital of France is" --max-tokens 20
 * ./bloom download bigscience/bloom-560m
 * ./bloom list-models
 * ./bloom generate --model /models/bloom-560m --prompt "Once upon a time" --samples 4 --temperature 0.8
 * ./bloom tokenize --model /models/bloom-560m --text "Hello world"
 * ./bloom logits --model /models/bloom-560m --text "Hello world" --all
 * ./bloom logprobs --model /models/bloom-560m --text "Hello world" --json
 * ./bloom convert --model /models/bloom-560m --out /models/bloom-560m-q8_0.gguf --type q8_0
 * ./bloom perplexity --model /models/bloom-560m-q8_0.gguf --file wiki.test.raw
 * ./bloom init-random --config bloom-1b7 --out /tmp/random-bloom-1b7
 * ./bloom info --model /models/bloom-560m
 * ./bloom batched-bench --model /models/bloom-560m-q8_0.gguf -npp 128 -ntg 64 -npl 1,2,4,8,16 -t 2
 * ./bloom serve --model /models/bloomz-560m --port 8080 --parallel 8
 * ./bloom bench-serve --url http://127.0.0.1:8080 --concurrency 1,4,16 --prompt-tokens 128 --max-tokens 64
 * }
 * {@code --model} takes a path or a Hugging Face hub name ({@code org/name[@revision][:quantization]}, from the hub
 * cache that Python's {@code transformers} shares, fetched when missing). Without {@code --model}, every command uses
 * a small built-in demo checkpoint with random weights.
 *
 * <p>Exit codes: 0 success, 1 a runtime failure ("error: ..." on stderr), 2 bad usage.
 */
@Command(
        name = "bloom",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Run BLOOM language models on the CPU.%n"
                + "Without --model, commands use a small built-in demo checkpoint with random weights.",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, LogitsCommand.class, LogprobsCommand.class,
                PerplexityCommand.class, ConvertCommand.class, InitRandomCommand.class, InfoCommand.class,
                DevicesCommand.class, DownloadCommand.class, ListModelsCommand.class, BatchedBenchCommand.class,
                ServeCommand.class, BenchServeCommand.class, RpcServerCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Exit status: 0 on success, 1 when the command failed, 2 on bad usage."})
public final class Main implements Runnable {

    /** Kept so the level set here is not lost when java.util.logging drops an unreferenced logger. */
    private static final Logger NATIVE_LOG = Logger.getLogger("dev.bloom4j.native");

    final InputStream in;
    final PrintStream out;
    final PrintStream err;
    /** The environment the hub settings come from (HF_HUB_CACHE, HF_TOKEN, ...); tests pass their own. */
    final Map<String, String> env;

    @Option(names = {"--verbose"}, scope = ScopeType.INHERIT,
            description = "Show the native library's log and a stack trace on errors.")
    boolean verbose;

    Main(InputStream in, PrintStream out, PrintStream err) {
        this(in, out, err, System.getenv());
    }

    Main(InputStream in, PrintStream out, PrintStream err, Map<String, String> env) {
        this.in = in;
        this.out = out;
        this.err = err;
        this.env = env;
    }

    /** Entry point of {@code ./bloom}. */
    public static void main(String[] args) {
        // Model text is UTF-8 whatever the platform's default encoding: write the bytes ourselves.
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
        int status = run(args, new FileInputStream(FileDescriptor.in), out, err);
        out.flush();
        err.flush();
        System.exit(status);
    }

    /** Runs one command line in-process and returns its exit status; used by {@link #main} and by tests. */
    public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
        return run(args, in, out, err, System.getenv());
    }

    /** {@link #run(String[], InputStream, PrintStream, PrintStream)} with another environment. */
    static int run(String[] args, InputStream in, PrintStream out, PrintStream err, Map<String, String> env) {
        Main main = new Main(in, out, err, env);
        CommandLine cli = new CommandLine(main);
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setCaseInsensitiveEnumValuesAllowed(true);  // --kv-cache f16, --flash-attn on
        cli.setExecutionStrategy(parseResult -> {
            // Native logging is configured once, before the library is first touched.
            NATIVE_LOG.setLevel(main.verbose ? Level.INFO : Level.WARNING);
            return new CommandLine.RunLast().execute(parseResult);
        });
        cli.setParameterExceptionHandler((ex, arguments) -> {
            // One line saying what is wrong and where to look, rather than the whole usage text.
            String message = String.valueOf(ex.getMessage());
            err.println("error: " + (message.startsWith("Error: ") ? message.substring(7) : message));
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
            err.println("Try '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help' for more information.");
            err.flush();
            return ex.getCommandLine().getCommandSpec().exitCodeOnInvalidInput();
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (!isRuntimeFailure(ex)) {
                throw ex;
            }
            return fail(main, ex);
        });
        int status;
        try {
            status = cli.execute(args);
        } catch (UnsatisfiedLinkError e) {
            // No usable libbloom.so: picocli lets Errors through; the loader's message lists where it looked.
            status = fail(main, e);
        }
        out.flush();
        return status;
    }

    private static int fail(Main main, Throwable failure) {
        main.err.println("error: " + message(failure));
        if (main.verbose) {
            failure.printStackTrace(main.err);
        }
        main.err.flush();
        return 1;
    }

    /** Failures a user can act on get one line; anything else is a bug and keeps its stack trace. */
    private static boolean isRuntimeFailure(Exception ex) {
        return ex instanceof BloomException
                || ex instanceof IOException
                || ex instanceof UncheckedIOException
                || ex instanceof IllegalArgumentException
                || ex instanceof IllegalStateException;
    }

    private static String message(Throwable ex) {
        if (ex instanceof UncheckedIOException u && u.getCause() != null) {
            return ioMessage(u.getCause());
        }
        if (ex instanceof IOException io) {
            return ioMessage(io);
        }
        return ex.getMessage() == null ? ex.toString() : ex.getMessage();
    }

    private static String ioMessage(IOException io) {
        // NoSuchFileException and friends carry only the path as their message.
        String m = io.getMessage();
        String kind = io.getClass().getSimpleName().replace("Exception", "");
        return m == null ? kind : kind.isEmpty() || m.contains(" ") ? m : kind + ": " + m;
    }

    @Override
    public void run() {
        // "bloom" alone: show what there is.
        CommandLine.usage(this, out);
    }
}

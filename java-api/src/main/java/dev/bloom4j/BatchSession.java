package dev.bloom4j;

import static dev.bloom4j.bindings.internal.bloom_h.C_LONG;
import static dev.bloom4j.bindings.internal.bloom_h.C_POINTER;

import dev.bloom4j.bindings.internal.bloom_generate_result;
import dev.bloom4j.bindings.internal.bloom_generator_event;
import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Many generations at once in one KV cache: any number of threads submit prompts, and one scheduler thread decodes
 * every running request together, one token each per step, in one graph. Decoding is bound by reading the weights,
 * so 16 sequences decoded together cost far less than 16 decoded one after another. Open one with
 * {@link BloomModel#newBatchSession(SessionConfig)}; {@link SessionConfig#maxSequences()} (set it above 1) is the
 * most requests decoded together, and {@link SessionConfig#contextSize()} the cells of the KV cache they share.
 * {@snippet :
 * var config = SessionConfig.builder().contextSize(4096).maxSequences(16).build();
 * try (var batch = model.newBatchSession(config)) {
 *     CompletableFuture<Completion> a = batch.submit("The capital of France is", GenerationConfig.greedy());
 *     CompletableFuture<Completion> b = batch.submit("Once upon a time", GenerationConfig.sampling().seed(7));
 *     System.out.println(a.join().text() + " / " + b.join().text());
 *
 *     // 4 samples of one prompt, evaluated once: sample i draws with seed 42 + i
 *     List<Completion> samples = batch.submitSamples("def fib(n):",
 *             GenerationConfig.sampling().seed(42).maxTokens(64).n(4)).join();
 * }
 * }
 *
 * <p><b>Scheduling.</b> Requests wait in a queue, first come first served. Each step, the scheduler admits waiting
 * requests while a sequence is free and the cache has room for the request's prompt and its
 * {@link GenerationConfig#maxTokens()} (capped at {@code contextSize}) next to what the running requests may still
 * need, so a running request never runs short of cells because of another; a request that does not fit waits until
 * others finish. Then one native step ({@code bloom_context_step}) advances every running request: each decoding one
 * contributes its last token, and pieces of prompts still being evaluated fill the rest of the batch (up to
 * {@link SessionConfig#batchSize()} tokens), so a long prompt is evaluated over several steps without stalling the
 * others. Finished requests free their cells at once. A prompt that starts like the prompt of a request still
 * running shares that request's cells for the common start ({@code bloom_context_seq_cp}, no copy) and evaluates
 * only the rest: a system prompt or a few-shot preamble common to many requests is evaluated once while they run
 * ({@link Stats#reusedTokens()} counts what was saved). Each request computes exactly what it would alone in a
 * {@link BloomSession} with the same {@code contextSize}: its own positions, and cells that hold what it would
 * compute itself.
 *
 * <p><b>Threading.</b> Every method may be called from any thread. The scheduler is a platform daemon thread named
 * {@code bloom4j-batch-<n>} that owns the native context; {@link TokenListener}s and {@link Flow.Subscriber}s run on
 * it (a subscriber also on the thread that calls {@code request}), so they should be quick: every request waits
 * for them.
 *
 * <p><b>Cancellation.</b> {@code future.cancel(..)}, a listener returning {@code false}, a subscriber's
 * {@code cancel()} or {@link #close()} stop a request at the next step and free its cells; the other requests go on
 * unchanged.
 *
 * <p><b>Lifecycle.</b> {@link #close()} cancels every waiting and running request, stops the scheduler and frees
 * the KV cache; it is idempotent. A submission after close throws {@code IllegalStateException("BatchSession is
 * closed")}. The model cannot be closed while a batch session on it is open.
 */
public final class BatchSession implements AutoCloseable {

    /**
     * Counters of a {@link BatchSession} since it was opened, and its state now. Fields are read one by one while
     * the scheduler runs, so a snapshot taken mid-step may mix two steps.
     * {@snippet :
     * BatchSession.Stats s = batch.stats();
     * System.out.printf("%d steps, %.1f decode tok/s, %d cells in use%n", s.steps(),
     *         s.generatedTokens() * 1e9 / Math.max(1, s.decodeNanos()), s.cellsUsed());
     * }
     *
     * @param steps           native steps ({@code bloom_context_step} calls), each one decode of all running requests
     * @param promptTokens    prompt tokens evaluated (tokens reused from cells already cached not counted), counted
     *                        when a request's prompt is finished
     * @param generatedTokens tokens generated by all requests
     * @param prefillNanos    wall time of steps in which some request had not yet received its first token (its
     *                        prompt was being evaluated)
     * @param decodeNanos     wall time of the other steps: decoding only
     * @param activeSequences sequences generating now
     * @param waitingRequests requests waiting for a sequence or for cells
     * @param cellsUsed       cells of the KV cache in use now ({@code bloom_context_cells_used}), out of
     *                        {@link BatchSession#contextSize()}
     * @param reusedTokens    prompt tokens not evaluated because a running request held them: a prompt that
     *                        starts like another one still running shares its cells
     */
    public record Stats(long steps, long promptTokens, long generatedTokens, long prefillNanos, long decodeNanos,
                        int activeSequences, int waitingRequests, int cellsUsed, long reusedTokens) {}

    private static final AtomicInteger THREAD_NUMBERS = new AtomicInteger();

    private final BloomModel model;
    private final int contextSize;
    private final int batchSize;
    private final int maxSequences;
    private final KvCacheType kvCacheType;
    private final FlashAttention flashAttention;
    private final Thread thread;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final ArrayDeque<Job> waiting = new ArrayDeque<>(); // guarded by lock
    private boolean closed; // guarded by lock: no more submissions, the scheduler stops
    private Throwable failure; // guarded by lock: why the scheduler stopped on its own

    // Written by the scheduler thread only.
    private volatile long steps;
    private volatile long promptTokens;
    private volatile long generatedTokens;
    private volatile long prefillNanos;
    private volatile long decodeNanos;
    private volatile int activeSequences;
    private volatile int cellsUsed;
    private volatile long reusedTokens;

    /** Starts the scheduler thread, which creates the native context; waits until it has. */
    BatchSession(BloomModel model, SessionConfig config) {
        this.model = model;
        CompletableFuture<NativeContext> created = new CompletableFuture<>();
        Scheduler scheduler = new Scheduler(config, created);
        this.thread = Thread.ofPlatform().daemon().name("bloom4j-batch-" + THREAD_NUMBERS.incrementAndGet())
                .unstarted(scheduler);
        thread.start();
        NativeContext context;
        try {
            context = created.join();
        } catch (CompletionException e) {
            joinUninterruptibly(thread);
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
        this.contextSize = context.contextSize();
        this.batchSize = context.batchSize();
        this.maxSequences = context.maxSequences();
        this.kvCacheType = context.kvCacheType();
        this.flashAttention = context.flashAttention();
    }

    /** The model this session runs. */
    public BloomModel model() {
        return model;
    }

    /** Cells of the KV cache, shared by all requests: tokens held at once, prompts and generated ones together. */
    public int contextSize() {
        return contextSize;
    }

    /** Most tokens evaluated in one step. */
    public int batchSize() {
        return batchSize;
    }

    /** Most requests (sequences) decoded together; {@link #submitSamples} with n samples takes n. */
    public int maxSequences() {
        return maxSequences;
    }

    /** The KV cache's element type: {@link KvCacheType#F32} or {@link KvCacheType#F16}, never {@code AUTO}. */
    public KvCacheType kvCacheType() {
        return kvCacheType;
    }

    /** Whether attention runs fused: {@link FlashAttention#ON} or {@link FlashAttention#OFF}, never {@code AUTO}. */
    public FlashAttention flashAttention() {
        return flashAttention;
    }

    // ------------------------------------------------------------------------------------------ submission

    /**
     * Queues the generation of a text prompt; see {@link #submit(int[], GenerationConfig, TokenListener)}.
     * {@snippet :
     * batch.submit("The capital of France is", GenerationConfig.greedy().maxTokens(8))
     *      .thenAccept(c -> System.out.println(c.text()));
     * }
     */
    public CompletableFuture<Completion> submit(String prompt, GenerationConfig config) {
        return submit(tokenizePrompt(prompt), config, null);
    }

    /** Queues the generation of a tokenized prompt; see {@link #submit(int[], GenerationConfig, TokenListener)}. */
    public CompletableFuture<Completion> submit(int[] promptIds, GenerationConfig config) {
        return submit(promptIds, config, null);
    }

    /**
     * Queues the generation of a tokenized prompt and returns at once. The completion equals what
     * {@link BloomSession#generate(int[], GenerationConfig, TokenListener)} returns for the same prompt and config on
     * a fresh session of the same {@code contextSize} (its timings aside).
     * {@snippet :
     * CompletableFuture<Completion> f = batch.submit(model.tokenize("Hello"), GenerationConfig.greedy(),
     *         (id, text) -> {
     *             System.out.print(text);      // on the scheduler thread
     *             return true;                 // false cancels this request (FinishReason.CANCELLED)
     *         });
     * }
     *
     * <p>Cancelling the future stops the request at the next step. A listener returning {@code false} completes it
     * normally with {@link FinishReason#CANCELLED}; a listener that throws fails this request's future with that
     * exception. A failed native step fails the requests it was decoding with the {@link BloomException}; the
     * session stays usable.
     *
     * @param listener receives each token as {@link BloomSession#generate} delivers them, on the scheduler thread;
     *                 may be {@code null}
     * @throws IllegalArgumentException the prompt is empty or holds an id outside [0, vocabularySize), or
     *                                  {@code config.n()} is not 1 (use {@link #submitSamples})
     * @throws ContextFullException     the prompt alone is longer than {@link #contextSize()}
     * @throws IllegalStateException    the session is closed
     */
    public CompletableFuture<Completion> submit(int[] promptIds, GenerationConfig config, TokenListener listener) {
        Objects.requireNonNull(config, "config");
        int[] prompt = checkPrompt(promptIds);
        if (config.n() != 1) {
            throw new IllegalArgumentException("config.n() is " + config.n() + ": submit generates one completion; "
                    + "use submitSamples for " + config.n() + " samples of one prompt");
        }
        CompletableFuture<Completion> future = new CompletableFuture<>();
        enqueue(new Job(prompt, config, SampleListener.of(listener), future, null));
        return future;
    }

    /**
     * Queues several tokenized prompts with one config in one go: the scheduler sees them together, so they are
     * admitted in the same step (as far as free sequences and cells allow) and their prompts are evaluated side by
     * side, as a benchmark or a batch job wants. Each future is what {@link #submit(int[], GenerationConfig)} would
     * return for its prompt.
     * {@snippet :
     * List<CompletableFuture<Completion>> all = batch.submitAll(List.of(ids1, ids2, ids3),
     *         GenerationConfig.greedy().maxTokens(32));
     * all.forEach(f -> System.out.println(f.join().text()));
     * }
     *
     * @throws IllegalArgumentException a prompt is empty or holds an id outside [0, vocabularySize), or
     *                                  {@code config.n()} is not 1; nothing is queued then
     * @throws ContextFullException     a prompt alone is longer than {@link #contextSize()}; nothing is queued
     * @throws IllegalStateException    the session is closed
     */
    public List<CompletableFuture<Completion>> submitAll(List<int[]> promptIds, GenerationConfig config) {
        Objects.requireNonNull(promptIds, "promptIds");
        Objects.requireNonNull(config, "config");
        if (config.n() != 1) {
            throw new IllegalArgumentException("config.n() is " + config.n() + ": submitAll generates one completion "
                    + "per prompt; use submitSamples for " + config.n() + " samples of one prompt");
        }
        List<Job> jobs = new ArrayList<>(promptIds.size());
        List<CompletableFuture<Completion>> futures = new ArrayList<>(promptIds.size());
        for (int[] ids : promptIds) {
            CompletableFuture<Completion> future = new CompletableFuture<>();
            jobs.add(new Job(checkPrompt(ids), config, null, future, null));
            futures.add(future);
        }
        lock.lock();
        try {
            checkOpenLocked();
            waiting.addAll(jobs);
            work.signalAll();
        } finally {
            lock.unlock();
        }
        return futures;
    }

    /**
     * Queues {@link GenerationConfig#n()} samples of a text prompt; see
     * {@link #submitSamples(int[], GenerationConfig)}.
     */
    public CompletableFuture<List<Completion>> submitSamples(String prompt, GenerationConfig config) {
        return submitSamples(tokenizePrompt(prompt), config);
    }

    /**
     * Queues {@link GenerationConfig#n()} samples of one prompt. The prompt is evaluated once; when it is, its cells
     * are shared with the other samples' sequences ({@code bloom_context_seq_cp}, no copy), which then evaluate only
     * the last prompt token themselves. Sample {@code i} samples with seed {@code config.seed() + i}: it equals a
     * single generation with that seed, and n samples with a fixed seed are reproducible. The request waits until
     * n sequences are free at once, and room for the shared prompt plus n times {@code maxTokens}; when that is more
     * than {@link #contextSize()}, it runs alone and its samples may end with {@link FinishReason#CONTEXT_FULL}
     * sooner than a single generation would.
     * {@snippet :
     * List<Completion> samples = batch.submitSamples(model.tokenize("def fib(n):"),
     *         GenerationConfig.sampling().temperature(0.8).seed(42).maxTokens(64).n(8)).join();
     * }
     *
     * @return the completions in sample order; cancelling the future cancels every sample
     * @throws IllegalArgumentException the prompt is empty or holds an id outside [0, vocabularySize), or
     *                                  {@code config.n()} is larger than {@link #maxSequences()}
     * @throws ContextFullException     the prompt alone is longer than {@link #contextSize()}
     * @throws IllegalStateException    the session is closed
     */
    public CompletableFuture<List<Completion>> submitSamples(int[] promptIds, GenerationConfig config) {
        return submitSamples(promptIds, config, null);
    }

    /**
     * Receives the tokens of {@link #submitSamples(int[], GenerationConfig, SampleListener)}'s samples as they are
     * generated, on the scheduler thread: each call names the sample (0 .. n-1). As
     * {@link TokenListener#onToken(int, String, TokenLogprobs)} otherwise: {@code false} ends that sample with
     * {@link FinishReason#CANCELLED}, an exception fails the whole request.
     */
    @FunctionalInterface
    public interface SampleListener {
        /**
         * @param sample   the sample's index, in [0, n)
         * @param tokenId  the token, or {@code -1} for the sample's final held-back text
         * @param text     the text it completes; possibly empty
         * @param logprobs its log-probabilities when {@link GenerationConfig#logprobs()} asks for them, else null
         * @return {@code true} to continue this sample
         */
        boolean onToken(int sample, int tokenId, String text, TokenLogprobs logprobs);

        /**
         * Called once when a sample has finished, with its completion, on the scheduler thread, after its last
         * token; samples finish at different steps, while the request's future completes with the last. The default
         * does nothing. An exception thrown here fails the whole request.
         *
         * @param sample     the sample's index, in [0, n)
         * @param completion what the future's list will hold at that index
         */
        default void onSampleDone(int sample, Completion completion) {
        }

        private static SampleListener of(TokenListener listener) {
            return listener == null ? null : (sample, id, text, logprobs) -> listener.onToken(id, text, logprobs);
        }
    }

    /**
     * {@link #submitSamples(int[], GenerationConfig)} with a listener that receives every sample's tokens as they
     * come, as a server streaming n choices needs.
     * {@snippet :
     * batch.submitSamples(ids, GenerationConfig.sampling().seed(1).n(3),
     *         (sample, id, text, logprobs) -> {
     *             System.out.println(sample + ": " + text);
     *             return true;
     *         });
     * }
     *
     * @param listener may be {@code null}
     */
    public CompletableFuture<List<Completion>> submitSamples(int[] promptIds, GenerationConfig config,
                                                             SampleListener listener) {
        Objects.requireNonNull(config, "config");
        int[] prompt = checkPrompt(promptIds);
        if (config.n() > maxSequences) {
            throw new IllegalArgumentException("config.n() is " + config.n() + " samples, but this BatchSession "
                    + "holds " + maxSequences + " sequences at once (SessionConfig.maxSequences)");
        }
        CompletableFuture<List<Completion>> future = new CompletableFuture<>();
        enqueue(new Job(prompt, config, listener, null, future));
        return future;
    }

    /**
     * The tokens of a generation as a {@link Flow.Publisher}: the request is queued when a subscriber subscribes
     * (one subscriber per publisher), tokens are delivered as the subscriber requests them (buffered meanwhile), and
     * {@code onComplete} follows the last one. {@code cancel()} cancels the request; a failed request ends with
     * {@code onError}. The tokens are those a {@link TokenListener} receives, the final {@code Token(-1, text)}
     * included.
     * {@snippet :
     * batch.publish("Once upon a time", GenerationConfig.greedy().maxTokens(30)).subscribe(new Flow.Subscriber<>() {
     *     Flow.Subscription subscription;
     *     public void onSubscribe(Flow.Subscription s) { subscription = s; s.request(1); }
     *     public void onNext(Token t) { System.out.print(t.text()); subscription.request(1); }
     *     public void onError(Throwable e) { e.printStackTrace(); }
     *     public void onComplete() { System.out.println(); }
     * });
     * }
     *
     * @throws IllegalArgumentException the prompt is empty, or {@code config.n()} is not 1
     * @throws ContextFullException     the prompt alone is longer than {@link #contextSize()}
     * @throws IllegalStateException    the session is closed
     */
    public Flow.Publisher<Token> publish(String prompt, GenerationConfig config) {
        Objects.requireNonNull(config, "config");
        int[] ids = checkPrompt(tokenizePrompt(prompt));
        if (config.n() != 1) {
            throw new IllegalArgumentException("config.n() is " + config.n() + ": publish streams one completion");
        }
        checkOpen();
        return new TokenPublisher(ids, config);
    }

    /** A snapshot of the counters and state; see {@link Stats}. */
    public Stats stats() {
        int waitingNow = 0;
        lock.lock();
        try {
            for (Job job : waiting) {
                if (!job.future().isDone()) {
                    waitingNow++;
                }
            }
        } finally {
            lock.unlock();
        }
        return new Stats(steps, promptTokens, generatedTokens, prefillNanos, decodeNanos, activeSequences,
                waitingNow, cellsUsed, reusedTokens);
    }

    // ------------------------------------------------------------------------------------------ lifecycle

    /**
     * Cancels every waiting and running request (their futures complete with a {@link CancellationException}),
     * stops the scheduler thread and waits for it, and frees the KV cache. Idempotent. Called from a listener (on
     * the scheduler thread), it returns at once and the scheduler stops after the current step.
     */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
        if (Thread.currentThread() != thread) {
            joinUninterruptibly(thread);
        }
    }

    @Override
    public String toString() {
        boolean isClosed;
        lock.lock();
        try {
            isClosed = closed;
        } finally {
            lock.unlock();
        }
        return "BatchSession[" + model.path() + ", " + thread.getName() + (isClosed ? ", closed]" : "]");
    }

    // ------------------------------------------------------------------------------------------ internals

    private void checkOpen() {
        lock.lock();
        try {
            checkOpenLocked();
        } finally {
            lock.unlock();
        }
    }

    private void checkOpenLocked() {
        if (closed) {
            if (failure != null) {
                throw new IllegalStateException("BatchSession is closed: its scheduler failed", failure);
            }
            throw new IllegalStateException("BatchSession is closed");
        }
    }

    private void enqueue(Job job) {
        lock.lock();
        try {
            checkOpenLocked();
            waiting.addLast(job);
            work.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private int[] tokenizePrompt(String prompt) {
        Objects.requireNonNull(prompt, "prompt");
        checkOpen();
        if (prompt.isEmpty()) {
            throw new IllegalArgumentException("prompt must not be empty");
        }
        return model.tokenize(prompt);
    }

    private int[] checkPrompt(int[] promptIds) {
        Objects.requireNonNull(promptIds, "promptIds");
        checkOpen();
        model.checkPrompt(promptIds, contextSize);
        return promptIds.clone();
    }

    private static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** One submission: one completion, or n samples of one prompt. */
    private final class Job {
        final int[] prompt;
        final GenerationConfig config;
        final SampleListener listener;
        final CompletableFuture<Completion> single;
        final CompletableFuture<List<Completion>> samples;
        final int count; // sequences
        final int cells; // the most cells the job's sequences may hold together
        final Completion[] results;
        int finished;
        Sequence[] sequences; // set at admission
        boolean forked;

        Job(int[] prompt, GenerationConfig config, SampleListener listener, CompletableFuture<Completion> single,
            CompletableFuture<List<Completion>> samples) {
            this.prompt = prompt;
            this.config = config;
            this.listener = listener;
            this.single = single;
            this.samples = samples;
            this.count = samples == null ? 1 : config.n();
            this.results = new Completion[count];
            // A sequence ends at contextSize positions (FinishReason.CONTEXT_FULL) like a session; samples share all
            // but the last prompt token.
            long own = Math.min((long) prompt.length + config.maxTokens(), contextSize);
            long shared = prompt.length - 1;
            this.cells = (int) Math.min(contextSize, shared + count * (own - shared));
        }

        CompletableFuture<?> future() {
            return single != null ? single : samples;
        }

        void fail(Throwable t) {
            future().completeExceptionally(t);
        }
    }

    /** One sequence of the KV cache generating for a job; scheduler thread only. */
    private static final class Sequence {
        final Job job;
        final int index; // sample index
        final int slot; // sequence id
        Arena arena; // generator parameters
        MemorySegment sampler = MemorySegment.NULL;
        MemorySegment generator = MemorySegment.NULL;
        final BloomSession.IntList ids = new BloomSession.IntList();
        final StringBuilder text = new StringBuilder();
        boolean started; // received its first event: its prompt is evaluated

        Sequence(Job job, int index, int slot) {
            this.job = job;
            this.index = index;
            this.slot = slot;
        }

        boolean running() {
            return generator.address() != 0;
        }
    }

    /** The scheduler thread's loop and all its state: the native context is touched nowhere else. */
    private final class Scheduler implements Runnable {
        private final SessionConfig config;
        private final CompletableFuture<NativeContext> created;
        private NativeContext context;
        private final List<Sequence> live = new ArrayList<>();
        private final ArrayDeque<Integer> freeSlots = new ArrayDeque<>();
        private int activeJobs;
        private int reservedCells; // cells the admitted jobs may hold at most
        private MemorySegment events;
        private MemorySegment generators;
        private MemorySegment result;
        private MemorySegment logprob; // bloom_generator_get_logprobs' out-parameters
        private MemorySegment topIds;
        private MemorySegment topLogprobs;
        private MemorySegment topCount;

        Scheduler(SessionConfig config, CompletableFuture<NativeContext> created) {
            this.config = config;
            this.created = created;
        }

        @Override
        public void run() {
            try (Arena scratch = Arena.ofConfined()) {
                try {
                    context = new NativeContext(model, config);
                    for (int slot = 0; slot < context.maxSequences(); slot++) {
                        freeSlots.add(slot);
                    }
                    events = bloom_generator_event.allocateArray(context.maxSequences(), scratch);
                    generators = scratch.allocate(C_POINTER, context.maxSequences());
                    result = bloom_generate_result.allocate(scratch);
                    logprob = scratch.allocate(ValueLayout.JAVA_FLOAT);
                    topIds = scratch.allocate(ValueLayout.JAVA_INT, GenerationConfig.MAX_LOGPROBS);
                    topLogprobs = scratch.allocate(ValueLayout.JAVA_FLOAT, GenerationConfig.MAX_LOGPROBS);
                    topCount = scratch.allocate(C_LONG);
                } catch (Throwable t) {
                    if (context != null) {
                        context.close();
                        context = null; // newBatchSession uncounts the session when the constructor throws
                    }
                    created.completeExceptionally(t);
                    return;
                }
                created.complete(context);
                Throwable crash = null;
                try {
                    loop();
                } catch (Throwable t) {
                    crash = t;
                }
                shutdown(crash);
            } finally {
                if (context != null) {
                    model.sessionClosed();
                }
            }
        }

        private void loop() {
            while (true) {
                lock.lock();
                try {
                    while (!closed && live.isEmpty() && waiting.isEmpty()) {
                        work.awaitUninterruptibly();
                    }
                    if (closed) {
                        return;
                    }
                } finally {
                    lock.unlock();
                }
                dropCancelled();
                startPendingSamples();
                admit();
                if (live.stream().anyMatch(Sequence::running)) {
                    step();
                }
                publishState();
            }
        }

        /** Retires the sequences of jobs whose future was completed from outside: cancelled. */
        private void dropCancelled() {
            for (Sequence s : List.copyOf(live)) {
                if (live.contains(s) && s.job.future().isDone()) {
                    discard(s);
                }
            }
        }

        /** Admits waiting jobs, first come first served, while sequences and cells allow. */
        private void admit() {
            while (true) {
                Job job;
                lock.lock();
                try {
                    job = waiting.peekFirst();
                    if (job != null && job.future().isDone()) {
                        waiting.pollFirst();
                        continue;
                    }
                } finally {
                    lock.unlock();
                }
                if (job == null || freeSlots.size() < job.count) {
                    return;
                }
                boolean alone = activeJobs == 0;
                if (!alone && reservedCells + job.cells > contextSize) {
                    return;
                }
                boolean admitted = false;
                try {
                    start(job);
                    admitted = true;
                } catch (ContextFullException e) {
                    if (!alone) {
                        return; // not enough free cells now: wait at the head of the queue
                    }
                    job.fail(e);
                } catch (RuntimeException e) {
                    job.fail(e);
                }
                lock.lock();
                try {
                    waiting.pollFirst();
                } finally {
                    lock.unlock();
                }
                if (admitted) {
                    activeJobs++;
                    reservedCells += job.cells;
                }
            }
        }

        /**
         * Takes the job's sequences and starts its first one.
         *
         * @throws ContextFullException the prompt does not fit in the free cells; nothing is taken
         */
        private void start(Job job) {
            Sequence[] sequences = new Sequence[job.count];
            for (int i = 0; i < job.count; i++) {
                sequences[i] = new Sequence(job, i, freeSlots.removeFirst());
            }
            try {
                context.removeCells(sequences[0].slot, 0, -1);
                sharePrefix(job.prompt, sequences[0].slot);
                begin(sequences[0]);
            } catch (RuntimeException e) {
                context.removeCells(sequences[0].slot, 0, -1);
                for (int i = job.count - 1; i >= 0; i--) {
                    freeSlots.addFirst(sequences[i].slot);
                }
                throw e;
            }
            job.sequences = sequences;
            live.addAll(Arrays.asList(sequences));
        }

        /**
         * Shares with {@code slot} the cells of the longest start of {@code prompt} that a running sequence holds
         * (its prompt evaluated), so that its generator evaluates only the rest; the last prompt token is always
         * left to evaluate. The shared cells hold what this prompt would compute itself: the same tokens at the
         * same positions after the same tokens.
         */
        private void sharePrefix(int[] prompt, int slot) {
            Sequence best = null;
            int bestLength = 0;
            for (Sequence s : live) {
                if (!s.started || !s.running()) {
                    continue;
                }
                int[] other = s.job.prompt;
                int limit = Math.min(other.length, prompt.length - 1);
                int n = Arrays.mismatch(other, 0, limit, prompt, 0, limit);
                n = n < 0 ? limit : n;
                if (n > bestLength) {
                    best = s;
                    bestLength = n;
                }
            }
            if (best != null) {
                context.copyCells(best.slot, slot, 0, bestLength);
            }
        }

        /** Creates the sequence's sampler and generator. @throws ContextFullException without free cells for it */
        private void begin(Sequence s) {
            Arena arena = Arena.ofConfined();
            MemorySegment sampler = MemorySegment.NULL;
            try {
                sampler = context.newSamplerRaw(s.job.config, s.job.config.seed() + s.index);
                // Log-probabilities cost a softmax over the vocabulary per token: only when a listener takes them.
                GenerationConfig config = s.job.listener == null && s.job.config.logprobs() >= 0
                        ? s.job.config.logprobs(-1) : s.job.config;
                s.generator = context.newGenerator(arena, sampler, s.job.prompt, config, s.slot);
                s.sampler = sampler;
                s.arena = arena;
            } catch (RuntimeException | Error e) {
                bloom_h.bloom_sampler_free(sampler);
                arena.close();
                throw e;
            }
        }

        /**
         * Once sample 0 has evaluated the prompt, shares the prompt's cells with the other samples' sequences and
         * starts them; they evaluate the last prompt token only.
         */
        private void fork(Job job) {
            job.forked = true;
            Sequence first = job.sequences[0];
            for (int i = 1; i < job.count; i++) {
                if (job.prompt.length > 1) {
                    context.copyCells(first.slot, job.sequences[i].slot, 0, job.prompt.length - 1);
                }
            }
            startPendingSamples();
        }

        /** Starts forked samples that are still without a generator (free cells ran short when they forked). */
        private void startPendingSamples() {
            for (Sequence s : List.copyOf(live)) {
                if (s.running() || !s.job.forked || s.job.future().isDone()) {
                    continue;
                }
                try {
                    begin(s);
                } catch (ContextFullException e) {
                    if (live.stream().noneMatch(Sequence::running)) {
                        s.job.fail(e); // nothing will free cells: it can never start
                        dropJob(s.job);
                    }
                } catch (RuntimeException e) {
                    s.job.fail(e);
                    dropJob(s.job);
                }
            }
        }

        private void dropJob(Job job) {
            for (Sequence s : job.sequences) {
                if (live.contains(s)) {
                    discard(s);
                }
            }
        }

        /** One native step over every running generator, then each event to its request. */
        private void step() {
            List<Sequence> running = new ArrayList<>(live.size());
            boolean prefill = false;
            for (Sequence s : live) {
                if (s.running()) {
                    generators.setAtIndex(C_POINTER, running.size(), s.generator);
                    running.add(s);
                    prefill |= !s.started;
                }
            }
            long start = System.nanoTime();
            int status = bloom_h.bloom_context_step(events, context.handle(), generators, running.size());
            long elapsed = System.nanoTime() - start;
            steps++;
            if (prefill) {
                prefillNanos += elapsed;
            } else {
                decodeNanos += elapsed;
            }
            if (status != bloom_h.BLOOM_OK()) {
                BloomException e = Native.exception(status);
                for (Sequence s : running) {
                    s.job.fail(e);
                    dropJob(s.job);
                }
                return;
            }
            for (int i = 0; i < running.size(); i++) {
                deliver(running.get(i), bloom_generator_event.asSlice(events, i));
            }
        }

        private void deliver(Sequence s, MemorySegment event) {
            Job job = s.job;
            if (!live.contains(s)) {
                return; // dropped with another sequence of its job
            }
            if (job.future().isDone()) {
                discard(s); // cancelled while it stepped
                return;
            }
            int token = bloom_generator_event.token(event);
            int finish = bloom_generator_event.finish_reason(event);
            // Borrowed until the generator's next step: copied right away.
            String piece = borrowed(bloom_generator_event.text(event), bloom_generator_event.text_len(event));
            String tail = finish == -1 ? ""
                    : borrowed(bloom_generator_event.tail(event), bloom_generator_event.tail_len(event));
            if (!s.started && (token >= 0 || finish != -1)) {
                s.started = true;
                Native.check(bloom_h.bloom_generator_get_result(result, s.generator));
                promptTokens += bloom_generate_result.n_prompt(result) - bloom_generate_result.n_reused(result);
                reusedTokens += bloom_generate_result.n_reused(result);
                if (s.index == 0 && job.count > 1) {
                    fork(job);
                }
            }
            if (token >= 0) {
                generatedTokens++;
                s.ids.add(token);
                s.text.append(piece);
                if (job.listener != null) {
                    boolean more;
                    try {
                        more = job.listener.onToken(s.index, token, piece, logprobs(s, token));
                    } catch (Throwable t) {
                        job.fail(t);
                        discard(s);
                        return;
                    }
                    if (!more) {
                        complete(s, FinishReason.CANCELLED);
                        return;
                    }
                }
            }
            if (finish != -1) {
                if (!tail.isEmpty()) {
                    s.text.append(tail);
                    if (job.listener != null) {
                        try {
                            job.listener.onToken(s.index, -1, tail, null); // its answer is moot: the generation has ended
                        } catch (Throwable t) {
                            job.fail(t);
                            discard(s);
                            return;
                        }
                    }
                }
                complete(s, null);
            }
        }

        /** The log-probabilities the generator recorded for its last token; null when the config asks for none. */
        private TokenLogprobs logprobs(Sequence s, int token) {
            int wanted = s.job.config.logprobs();
            if (wanted < 0) {
                return null;
            }
            Native.check(bloom_h.bloom_generator_get_logprobs(logprob, topIds, topLogprobs, wanted, topCount,
                    s.generator));
            int n = (int) topCount.get(C_LONG, 0);
            return new TokenLogprobs(token, logprob.get(ValueLayout.JAVA_FLOAT, 0),
                    topIds.asSlice(0, 4L * n).toArray(ValueLayout.JAVA_INT),
                    topLogprobs.asSlice(0, 4L * n).toArray(ValueLayout.JAVA_FLOAT));
        }

        /** Ends a sequence with its completion, its finish reason replaced by {@code override} when not null. */
        private void complete(Sequence s, FinishReason override) {
            Completion completion;
            try {
                Native.check(bloom_h.bloom_generator_get_result(result, s.generator));
                completion = NativeContext.completion(result, s.text.toString(), s.ids.toArray(), override);
            } catch (RuntimeException e) {
                s.job.fail(e);
                discard(s);
                return;
            }
            Job job = s.job;
            if (job.samples != null && job.listener != null) {
                try {
                    job.listener.onSampleDone(s.index, completion);
                } catch (Throwable t) {
                    job.fail(t);
                    discard(s);
                    return;
                }
            }
            release(s);
            job.results[s.index] = completion;
            if (++job.finished == job.count) {
                endJob(job);
                if (job.single != null) {
                    job.single.complete(completion);
                } else {
                    job.samples.complete(List.of(job.results));
                }
            }
        }

        /**
         * Ends a sequence without a completion: its job was cancelled or failed (its future is done; if not, it is
         * cancelled here), so the job's other sequences end too.
         */
        private void discard(Sequence s) {
            release(s);
            Job job = s.job;
            job.future().cancel(false);
            if (++job.finished == job.count) {
                endJob(job);
            } else {
                dropJob(job);
            }
        }

        private void endJob(Job job) {
            activeJobs--;
            reservedCells -= job.cells;
            publishState(); // before the future completes: whoever waits on it may read stats()
        }

        /** Frees a sequence's generator, sampler and cells, and its sequence id. */
        private void release(Sequence s) {
            bloom_h.bloom_generator_free(s.generator);
            bloom_h.bloom_sampler_free(s.sampler);
            s.generator = MemorySegment.NULL;
            s.sampler = MemorySegment.NULL;
            if (s.arena != null) {
                s.arena.close();
                s.arena = null;
            }
            live.remove(s);
            freeSlots.addLast(s.slot);
            context.removeCells(s.slot, 0, -1);
        }

        private void publishState() {
            int running = 0;
            for (Sequence s : live) {
                if (s.running()) {
                    running++;
                }
            }
            activeSequences = running;
            cellsUsed = context.cellsUsed();
        }

        /** Cancels (or fails, after a crash) every request, then frees the context. */
        private void shutdown(Throwable crash) {
            lock.lock();
            List<Job> pending;
            try {
                closed = true;
                failure = crash;
                pending = new ArrayList<>(waiting);
                waiting.clear();
            } finally {
                lock.unlock();
            }
            Throwable reason = crash != null ? crash : new CancellationException("BatchSession closed");
            for (Sequence s : List.copyOf(live)) {
                s.job.future().completeExceptionally(reason);
                try {
                    if (live.contains(s)) {
                        discard(s);
                    }
                } catch (Throwable ignored) {
                    // freeing the rest matters more
                }
            }
            for (Job job : pending) {
                job.future().completeExceptionally(reason);
            }
            context.close();
        }
    }

    private static String borrowed(MemorySegment pointer, long length) {
        return length == 0 ? "" : Native.utf8(pointer.reinterpret(length));
    }

    // ------------------------------------------------------------------------------------------ Flow

    /** A cold publisher of one generation: it is submitted when the (single) subscriber subscribes. */
    private final class TokenPublisher implements Flow.Publisher<Token> {
        private final int[] prompt;
        private final GenerationConfig config;
        private final AtomicBoolean subscribed = new AtomicBoolean();

        TokenPublisher(int[] prompt, GenerationConfig config) {
            this.prompt = prompt;
            this.config = config;
        }

        @Override
        public void subscribe(Flow.Subscriber<? super Token> subscriber) {
            Objects.requireNonNull(subscriber, "subscriber");
            TokenSubscription subscription = new TokenSubscription(subscriber);
            subscriber.onSubscribe(subscription);
            if (!subscribed.compareAndSet(false, true)) {
                subscription.finish(new IllegalStateException("this publisher has had its subscriber; call "
                        + "publish again for another generation"));
                return;
            }
            if (subscription.cancelled || subscription.finishing.get()) {
                return; // cancelled, or a bad request(n), from onSubscribe
            }
            CompletableFuture<Completion> future;
            try {
                future = submit(prompt, config, subscription::offer);
            } catch (RuntimeException e) {
                subscription.finish(e);
                return;
            }
            subscription.future = future;
            if (subscription.cancelled || subscription.finishing.get()) {
                future.cancel(false); // cancelled, or a bad request(n), while it was being submitted
            }
            future.whenComplete((completion, error) -> subscription.finish(error));
        }
    }

    /**
     * Tokens buffered until requested; delivery is serialized by a work-in-progress counter, so onNext and the final
     * signal never overlap, whichever thread (the scheduler, or one calling request) drains.
     */
    private static final class TokenSubscription implements Flow.Subscription {
        private final Flow.Subscriber<? super Token> subscriber;
        private final ConcurrentLinkedQueue<Token> queue = new ConcurrentLinkedQueue<>();
        private final AtomicLong requested = new AtomicLong();
        private final AtomicInteger wip = new AtomicInteger();
        final AtomicBoolean finishing = new AtomicBoolean();
        volatile boolean cancelled;
        volatile CompletableFuture<Completion> future;
        private volatile boolean done;
        private volatile Throwable error;
        private boolean terminated; // drain loop only

        TokenSubscription(Flow.Subscriber<? super Token> subscriber) {
            this.subscriber = subscriber;
        }

        /** The request's listener, on the scheduler thread. */
        boolean offer(int id, String text) {
            if (cancelled) {
                return false;
            }
            queue.add(new Token(id, text));
            drain();
            return !cancelled;
        }

        /** The request ended ({@code error} null: normally); the first call wins. */
        void finish(Throwable error) {
            if (!finishing.compareAndSet(false, true)) {
                return;
            }
            if (error instanceof CompletionException && error.getCause() != null) {
                error = error.getCause();
            }
            this.error = error;
            this.done = true;
            drain();
        }

        @Override
        public void request(long n) {
            if (n <= 0) {
                cancelRequest();
                finish(new IllegalArgumentException("request(n) needs n > 0, got " + n
                        + " (Reactive Streams rule 3.9)"));
                return;
            }
            requested.getAndUpdate(r -> r + n < 0 ? Long.MAX_VALUE : r + n);
            drain();
        }

        @Override
        public void cancel() {
            cancelled = true;
            cancelRequest();
        }

        private void cancelRequest() {
            CompletableFuture<Completion> f = future;
            if (f != null) {
                f.cancel(false);
            }
        }

        private void drain() {
            if (wip.getAndIncrement() != 0) {
                return;
            }
            int missed = 1;
            do {
                if (cancelled || terminated) {
                    queue.clear();
                } else {
                    long wanted = requested.get();
                    long sent = 0;
                    Token next;
                    while (sent < wanted && !cancelled && (next = queue.poll()) != null) {
                        try {
                            subscriber.onNext(next);
                        } catch (Throwable t) {
                            // Rule 2.13 forbids it; treat the subscription as cancelled and report it once.
                            cancelled = true;
                            cancelRequest();
                            terminated = true;
                            subscriber.onError(t);
                            break;
                        }
                        sent++;
                    }
                    if (sent > 0 && wanted != Long.MAX_VALUE) {
                        requested.addAndGet(-sent);
                    }
                    // A failure is signalled at once; a normal end after the last buffered token.
                    Throwable e = error;
                    if (!terminated && !cancelled && done && (e != null || queue.isEmpty())) {
                        terminated = true;
                        queue.clear();
                        if (e == null) {
                            subscriber.onComplete();
                        } else {
                            subscriber.onError(e);
                        }
                    }
                }
                missed = wip.addAndGet(-missed);
            } while (missed != 0);
        }
    }
}

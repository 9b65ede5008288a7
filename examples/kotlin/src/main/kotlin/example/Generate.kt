@file:JvmName("Generate")

package example

import dev.bloom4j.BloomModel
import dev.bloom4j.BloomSession
import dev.bloom4j.GenerationConfig
import dev.bloom4j.Token
import dev.bloom4j.checkpoint.DemoCheckpoint
import java.nio.file.Path
import java.util.concurrent.Executors
import kotlin.system.exitProcess
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext

/** A generated token and the thread that computed it. */
data class Step(val token: Token, val thread: String)

/**
 * The continuation of [prompt] as a cold [Flow], one token per element. The prompt is evaluated and the first
 * [switchAfter] tokens are computed on the flow's own dispatcher (see `flowOn`); the rest on [later]. A session
 * serves any thread, one at a time, and `withContext` returns only when its block has, so the session is never
 * entered twice at once. Cancelling the collector closes the token iterator, which cancels the generation.
 */
fun BloomSession.tokens(prompt: String, config: GenerationConfig, switchAfter: Int, later: CoroutineDispatcher): Flow<Step> =
    flow {
        val tokens = iterate(prompt, config)
        try {
            val next: () -> Step? = { if (tokens.hasNext()) Step(tokens.next(), Thread.currentThread().name) else null }
            var index = 0
            while (true) {
                val step = (if (index < switchAfter) next() else withContext(later) { next() }) ?: break
                emit(step)
                index++
            }
        } finally {
            tokens.close()
        }
    }

fun main(args: Array<String>) {
    val demo = DemoCheckpoint.ensure(Path.of(args.getOrElse(0) { "target/demo" }))
    val prompt = "The capital of France is"
    // ignoreEos: random weights may end early, and the example wants tokens on both sides of the switch.
    val config = GenerationConfig.greedy().maxTokens(12).ignoreEos(true)
    val secondHalf = Executors.newSingleThreadExecutor { Thread(it, "bloom4j-second-half") }.asCoroutineDispatcher()
    secondHalf.use {
        BloomModel.load(demo).use { model ->
            model.newSession().use { session ->
                val steps = mutableListOf<Step>()
                // Collected on the main thread; produced on Dispatchers.IO, then on "bloom4j-second-half".
                runBlocking {
                    session.tokens(prompt, config, switchAfter = 6, later = secondHalf)
                        .flowOn(Dispatchers.IO)
                        .collect { step ->
                            println("${step.thread.padEnd(28)} -> ${Thread.currentThread().name}: '${step.token.text()}'")
                            steps += step
                        }
                }
                val text = steps.joinToString("") { it.token.text() }
                val expected = session.generate(prompt, config).text()
                println("flow: '$text'")
                println("generate: '$expected'")
                val threads = steps.map { it.thread }.distinct()
                when {
                    steps.isEmpty() -> fail("no tokens were generated")
                    text != expected -> fail("the flow's text differs from generate()'s")
                    threads.size < 2 || "bloom4j-second-half" !in threads -> fail("the generation did not switch threads: $threads")
                }
                println("ok: ${steps.size} tokens on threads $threads")
            }
        }
    }
}

fun fail(message: String): Nothing {
    System.err.println("kotlin example: $message")
    exitProcess(1)
}

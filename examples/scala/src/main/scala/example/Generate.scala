package example

import dev.bloom4j.{BloomModel, GenerationConfig}
import dev.bloom4j.checkpoint.DemoCheckpoint
import java.nio.file.Path
import scala.jdk.CollectionConverters.*
import scala.util.Using

/** Streams a continuation on bloom4j's demo checkpoint (random weights) token by token, printing each as it comes. */
object Generate:
  def main(args: Array[String]): Unit =
    val demo = DemoCheckpoint.ensure(Path.of(args.headOption.getOrElse("target/demo")))
    val prompt = "The capital of France is"
    val config = GenerationConfig.greedy().maxTokens(12)
    val text = Using.Manager { use =>
      val model = use(BloomModel.load(demo))
      val session = use(model.newSession())
      // Closing the stream (Using does) cancels a generation that is still running.
      val tokens = use(session.stream(prompt, config))
      tokens.iterator().asScala
        .map { token => print(s"[${token.id}]${token.text}"); token.text }
        .mkString
    }.get
    println()
    println(s"generated: '$text'")
    if text.isEmpty then
      System.err.println("scala example: no text was generated")
      sys.exit(1)

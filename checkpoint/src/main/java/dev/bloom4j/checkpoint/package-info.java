/**
 * Writes BLOOM checkpoints in the formats Hugging Face uses, for tests and for the bundled demo model.
 *
 * <p>{@link dev.bloom4j.checkpoint.SafetensorsWriter} writes single or sharded safetensors files,
 * {@link dev.bloom4j.checkpoint.BloomConfig} writes {@code config.json} in either key spelling found in real
 * checkpoints, {@link dev.bloom4j.checkpoint.RandomCheckpoint} puts a seeded random model together in any layout,
 * and {@link dev.bloom4j.checkpoint.DemoCheckpoint} caches the small random model the CLI can run out of the box.
 *
 * <pre>{@code
 * Path dir = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4))
 *         .dataType(DataType.F16).shards(2).build()
 *         .writeTo(Path.of("/tmp/tiny-bloom"));
 * }</pre>
 */
package dev.bloom4j.checkpoint;

/**
 * The V8 flags the gateway runs with: `npm start` and the container image's CMD pass exactly
 * these (test/deploy/container.test.ts checks both), and the benchmarks start the gateway with
 * them, so what is measured is what runs. They must be given at start: V8 sizes its heap when
 * the process starts, and setting them later (v8.setFlagsFromString) changes nothing.
 *
 * `--initial-old-space-size=64` (MB): a floor under the old generation's allocation limit. A
 * gateway on one function that proxied 64 KiB bodies at 500 calls/s often settled into a
 * mark-compact every 100-200 ms (50-90 per 10 s, always when another process kept a core
 * busy), about twice the CPU per call and a p99 of 17-33 ms, with about 20 MB live and the
 * limit just above it. Its bodies are off-heap buffers, so it allocates little on the
 * JavaScript heap; V8's memory reducer is involved (started with --no-memory-reducer, the
 * gateway ran no mark-compact), but turning it off would also stop an idle gateway from giving
 * memory back. With the floor: at most one mark-compact per 10 s run in 8 ad hoc runs (BENCHMARKS.md, the
 * 64 KiB open-loop row). A gateway whose live heap is above 64 MB (thousands of functions)
 * is not changed; one below it may hold up to 64 MB of garbage before a mark-compact, and the
 * memory reducer still collects it when idle.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

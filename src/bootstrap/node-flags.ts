/**
 * The V8 flags the gateway runs with: `npm start` and the container image's CMD pass exactly
 * these (test/deploy/container.test.ts checks both), and the benchmarks start the gateway with
 * them, so what is measured is what runs. They must be given at start: V8 sizes its heap when
 * the process starts, and setting them later (v8.setFlagsFromString) changes nothing.
 *
 * `--initial-old-space-size=64` (MB): a floor under the old generation's allocation limit. A
 * gateway that proxies large bodies allocates little on the JavaScript heap (its bodies are
 * off-heap buffers), so V8's memory reducer takes it for idle and keeps the old generation's
 * limit just above its live size (about 20 MB on one function): under load it then ran a
 * mark-compact every 100-200 ms (50-90 per 10 s at 500 calls/s with 64 KiB bodies), twice the
 * CPU per call and a p99 of 17-33 ms. With the floor: none, in every ad hoc run (BENCHMARKS.md,
 * the 64 KiB open-loop row). A gateway whose live heap is above 64 MB (thousands of functions)
 * is not changed; one below it may hold up to 64 MB of garbage before a mark-compact, and the
 * memory reducer still collects it when idle.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

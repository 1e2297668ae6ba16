/**
 * The V8 flags the gateway runs with: `npm start` and the container image's CMD pass exactly
 * these (test/deploy/container.test.ts checks both), and the benchmarks start the gateway with
 * them, so what is measured is what runs. They must be given at start: V8 sizes its heap when
 * the process starts, and setting them later (v8.setFlagsFromString) changed nothing here.
 *
 * `--initial-old-space-size=64` (MB): the old generation's initial size. Without it, a gateway
 * on one function proxying 64 KiB bodies at 500 calls/s often settled into a mark-compact
 * every 100-200 ms (50-90 per 10 s, in every run while another process kept a core busy),
 * about twice the CPU and a p99 of 17-33 ms, with about 20 MB live. Its bodies are off-heap
 * buffers, so it allocates little on the JavaScript heap; V8's memory reducer is involved
 * (started with --no-memory-reducer the gateway ran no mark-compact), but turning that off
 * would also stop an idle gateway from giving memory back. With this flag: at most one
 * mark-compact per 10 s run in 8 ad hoc runs (BENCHMARKS.md, the 64 KiB open-loop row). The
 * 10,000-function footprint run with it settled at 240.5 MB idle and 1.47 % of a core (244.7 MB
 * and 1.20 % the run before, without it). A small gateway may hold more garbage before a
 * mark-compact than it did.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** Lets timers and I/O (health checks, proxied calls) run before continuing a long task. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A timer handle from a Clock; pass it back to `clearTimeout`. */
export interface TimerHandle {
  /** Lets the process exit while this timer is pending (no-op on the virtual clock). */
  unref(): void;
}

/**
 * The one source of time for the engine: every time read and timer goes through it, so a
 * virtual clock can drive unit tests and the simulator. Times are epoch milliseconds.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

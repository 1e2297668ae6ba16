/** Work the run waits for before moving the clock: promises in flight and the first failure. */
export class Pending {
  count = 0;
  failure: unknown;
  readonly track = (work: Promise<unknown>): void => {
    this.count += 1;
    work.then(
      () => (this.count -= 1),
      (err: unknown) => {
        this.count -= 1;
        this.failure ??= err;
      },
    );
  };
}

/** Lets every queued promise callback run; no virtual time passes. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

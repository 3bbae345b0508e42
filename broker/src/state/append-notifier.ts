/**
 * Wakes Fetch long polls: a waiter registers interest in some partitions and is resolved by the
 * first append to any of them, by its timeout, or by broker shutdown.
 */
export class AppendNotifier {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly all = new Set<() => void>();

  static key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  notify(topic: string, partition: number): void {
    const set = this.waiters.get(AppendNotifier.key(topic, partition));
    if (!set) return;
    for (const wake of [...set]) wake();
  }

  /** Resolves all waiters (used at shutdown). */
  wakeAll(): void {
    for (const wake of [...this.all]) wake();
  }

  wait(keys: string[], timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer) clearTimeout(timer);
        for (const k of keys) {
          const set = this.waiters.get(k);
          set?.delete(wake);
          if (set && set.size === 0) this.waiters.delete(k);
        }
        this.all.delete(wake);
        resolve();
      };
      for (const k of keys) {
        let set = this.waiters.get(k);
        if (!set) {
          set = new Set();
          this.waiters.set(k, set);
        }
        set.add(wake);
      }
      this.all.add(wake);
      timer = setTimeout(wake, Math.max(0, timeoutMs));
    });
  }
}

/** A FIFO async mutex: each partition's produce path (sequence check → append → state update) runs under one. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise((r) => {
      release = r;
    });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

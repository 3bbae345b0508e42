// A tiny deterministic PRNG (mulberry32) for the core's randomised election timeouts. The core must not
// touch Math.random or any other ambient source, so it carries its own stream seeded by its owner
// (the simulator derives it from its SeededRandom; a real runtime may pass any number).
export class CoreRandom {
  private state: number;

  constructor(seed: number) {
    // Fold a 53-bit seed into 32 bits without losing the high half.
    this.state = (seed ^ Math.floor(seed / 0x1_0000_0000)) >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [lo, hi], both inclusive (hi - lo must be below 2^32). */
  int(lo: number, hi: number): number {
    return lo + (this.nextUint32() % (hi - lo + 1));
  }
}

/**
 * mulberry32: a small, fast, reproducible generator of uniform numbers in [0, 1) from a 32-bit
 * state. Shared by the seeded shuffles and splits of training and by the tools that need
 * repeatable randomness (benchmarks, the fault-injection proxy).
 */
export function mulberry32(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

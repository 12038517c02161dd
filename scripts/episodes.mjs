// Seeded episode sampling shared by `npm run eval` and scripts/calibrate.mjs: JSONL rows, rows by label,
// and mulberry32, so every method and every rerun sees the same episodes.
import { readFileSync } from "node:fs";

export const readJsonl = (file) => readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

export const byLabel = (rows) => rows.reduce((m, r) => m.set(r.label, [...(m.get(r.label) ?? []), r]), new Map());

/** A mulberry32 generator: uniform numbers in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A shuffled copy of `xs` (Fisher–Yates with `r`). */
export function shuffle(xs, r) {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

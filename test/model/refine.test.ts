// The number of refinement rounds (refine.onnx after adapt.onnx) a task gets: the same integers as the
// training side's algorithms.refine_rounds (training/tests/test_algorithms.py holds the same cases), and
// the shipped artifact's setting keeps the 77 × 5 task's rounds and the stress case's none.
import { describe, expect, it } from "vitest";
import { refineRounds } from "../../functions/model/runtime";
import { artifactManifest } from "./publish";
import { SHIPPED } from "./artifact-server";

const rule = (steps: number, max_rounds: number, budget: number) => ({ steps, max_rounds, budget });

describe("refineRounds", () => {
  it("gives rounds while rounds × steps × support × ways stays within the budget, at most max_rounds", () => {
    expect(refineRounds(rule(5, 1, 5_000_000), 385, 77)).toBe(1);
    expect(refineRounds(rule(5, 1, 5_000_000), 5820, 291)).toBe(0);
    expect(refineRounds(rule(5, 1, 5_000_000), 1000, 1000)).toBe(1);
    expect(refineRounds(rule(5, 1, 5_000_000), 1000, 1001)).toBe(0);
    expect(refineRounds(rule(5, 3, 300), 4, 5)).toBe(3);
    expect(refineRounds(rule(5, 3, 200), 4, 5)).toBe(2);
    expect(refineRounds(rule(5, 3, 99), 4, 5)).toBe(0);
    expect(refineRounds(undefined, 4, 5)).toBe(0); // an artifact without refine.onnx
  });

  it("the shipped artifact refines a 77-label × 5-shot task and leaves the stress case at adapt.onnx's steps", async () => {
    const refine = (await artifactManifest(SHIPPED)).adaptation.refine;
    expect(refine?.file).toBe("refine.onnx");
    expect(refineRounds(refine, 77 * 5, 77)).toBeGreaterThanOrEqual(1);
    expect(refineRounds(refine, 291 * 20, 291)).toBe(0);
  });
});

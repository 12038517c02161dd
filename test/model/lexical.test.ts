// Lexical evidence from a task's examples (functions/model/lexical.ts): the scores equal the Python
// reference's (training/lexical.py), and the shipped artifact's weight moves the prediction an execution
// reports, while an artifact without `lexical` scores with the head alone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuseLexical, lexicalIndex, lexicalScores } from "../../functions/model/lexical";
import type { Prediction } from "../../functions/model/index";
import { predictForTask } from "../../functions/predictions";
import { resetModelCacheForTests } from "../../functions/model/loader";
import { newAccount, newTask } from "../support/fixtures";
import { SHIPPED } from "./artifact-server";
import { artifactManifest, deactivateAll, publishArtifact } from "./publish";

describe("lexical scores", () => {
  // Expected values printed by training/lexical.py `scores` for the same token sets.
  const support = [[1, 2, 3], [2, 3, 4], [5, 6], [6, 7, 7], [8]];
  const ways = [0, 0, 1, 1, 2];
  const queries = [[2, 3, 9], [6], [8, 8, 1], [], [10, 11]];
  const expected = [
    [0.553378934321, 0, 0],
    [0, 0.752039533316, 0],
    [0.263389124937, 0, 0.707106781187],
    [0, 0, 0],
    [0, 0, 0],
  ];

  it("match the Python reference", () => {
    const index = lexicalIndex(support, ways, 3);
    queries.forEach((q, i) => {
      const got = Array.from(lexicalScores(index, q));
      got.forEach((v, k) => expect(v).toBeCloseTo(expected[i]![k]!, 10));
    });
  });

  it("leave unlabelled examples out, and add weight × score to each row of logits", () => {
    const withUnlabelled = lexicalIndex([...support, [2, 3]], [...ways, -1], 3);
    expect(Array.from(lexicalScores(withUnlabelled, queries[0]!))[0]).toBeCloseTo(expected[0]![0]!, 10);
    const logits = new Float32Array([1, 2, 3, 1, 2, 3]);
    fuseLexical(logits, [[2, 3, 9], [6]], lexicalIndex(support, ways, 3), 8);
    expect(Array.from(logits)).toEqual(Array.from(new Float32Array([1 + 8 * 0.553378934321, 2, 3, 1, 2 + 8 * 0.752039533316, 3])));
    const untouched = new Float32Array([1, 2, 3]);
    fuseLexical(untouched, [[2, 3]], lexicalIndex(support, ways, 3), 0);
    expect(Array.from(untouched)).toEqual([1, 2, 3]);
  });
});

describe("the shipped artifact's lexical weight in a prediction", () => {
  let withLexical = "";
  let withoutLexical = "";
  beforeAll(async () => {
    resetModelCacheForTests();
    withoutLexical = await publishArtifact({ artifact: SHIPPED, version: `nolex-${crypto.randomUUID().slice(0, 8)}`, manifest: (m) => void delete m.lexical, activate: false });
    withLexical = await publishArtifact({ artifact: SHIPPED, version: `lex-${crypto.randomUUID().slice(0, 8)}` });
  });
  afterAll(() => deactivateAll());

  const examples = [
    { input: "how do I top up my account", label: "top_up" }, { input: "add money with my card", label: "top_up" },
    { input: "my transfer has not arrived", label: "transfer" }, { input: "send money to a friend", label: "transfer" },
  ];
  const input = "can I top up by bank transfer";

  it("adds the evidence of the examples' words to the head's scores", async () => {
    expect((await artifactManifest(SHIPPED)).lexical).toMatchObject({ kind: "support-tfidf" });
    const { deps } = await newAccount();
    const task = await newTask(deps, { name: "Money", labels: ["top_up", "transfer"], examples });
    const lexical = (await predictForTask(deps, task.id, input)) as Prediction;
    expect(lexical.modelVersion).toBe(withLexical);
    await publishArtifact({ artifact: SHIPPED, version: withoutLexical, manifest: (m) => void delete m.lexical });
    const plain = (await predictForTask(deps, task.id, input)) as Prediction;
    expect(plain.modelVersion).toBe(withoutLexical);
    // "top up" is in the top_up examples only: the evidence raises top_up's probability over the head's alone.
    const topUp = (p: Prediction) => p.scores.find((s) => s.label === "top_up")!.score;
    expect(topUp(lexical)).toBeGreaterThan(topUp(plain));
  });
});

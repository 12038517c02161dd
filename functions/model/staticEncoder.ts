// The distilled edge encoder (contract "Encoding a text", static kind), reproducing training's
// StaticEncoder.encode: tokenizer.json ids, specials dropped, mean of dequantised int8 table rows; and,
// when the artifact ships context.onnx, training's ContextEncoder: a tiny transformer over those rows.
// The table stays an Int8Array over the bytes R2 returned (one copy, ~rows×dim bytes), looked up here
// in TypeScript: in ORT the same table would cost 4–6× its size in the wasm heap (recipes.md).
import type { Tokenizer } from "@huggingface/tokenizers";
import { modelBroken } from "../errors";
import type { Manifest } from "./artifact";
import { releasedCount, Tensor, type Session } from "./ort";
import { EdgeTokenizer } from "./tokens";

export class StaticEncoder extends EdgeTokenizer {
  readonly dim: number;
  private readonly specials: Set<number>;

  constructor(
    tokenizer: Tokenizer,
    private readonly table: Int8Array,
    private readonly scales: Float32Array,
    private readonly rows: Int32Array | null,
    encoder: Manifest["encoder"],
    private readonly context: Session | null = null,
  ) {
    super(tokenizer, encoder.max_tokens);
    this.dim = encoder.dim;
    this.specials = new Set(encoder.special_ids);
  }

  static create(manifest: Manifest, files: Map<string, ArrayBuffer>, context: Session | null = null, tokenizer?: Tokenizer): StaticEncoder {
    const enc = manifest.encoder;
    const names = { table: enc.files.table ?? "static_table.i8", scales: enc.files.scales ?? "static_scales.f32" };
    const table = new Int8Array(files.get(names.table)!);
    const scales = new Float32Array(files.get(names.scales)!);
    const rowsFile = enc.files.rows ? files.get(enc.files.rows) : undefined;
    const rows = rowsFile ? new Int32Array(rowsFile) : null;
    const rowCount = scales.length;
    if (table.length !== rowCount * enc.dim || (enc.rows !== undefined && enc.rows !== rowCount)) {
      throw modelBroken(`The static table of ${manifest.version} is not [rows=${rowCount}, dim=${enc.dim}].`);
    }
    const positions = enc.context?.max_positions;
    if (context && positions !== undefined && positions < enc.max_tokens - 2) {
      throw modelBroken(`context.onnx of ${manifest.version} takes ${positions} positions, fewer than max_tokens - 2.`);
    }
    return new StaticEncoder(tokenizer ?? StaticEncoder.parseTokenizer(manifest, files.get("tokenizer.json")!), table, scales, rows, enc, context);
  }

  get hasContext(): boolean {
    return this.context !== null;
  }

  /** Releases the context net's ORT session (the loader calls it when the version is replaced). */
  async release(): Promise<number> {
    if (!this.context) return 0;
    return releasedCount(await this.context.release());
  }

  /** The same table without its context net: the plain mean of rows (contract step 2a; tests compare it). */
  withoutContext(): StaticEncoder {
    return Object.assign(Object.create(StaticEncoder.prototype) as StaticEncoder, this, { context: null });
  }

  /** The table rows of a text's kept tokens, in order (contract step 2: specials and ignored tokens dropped). */
  rowsOf(ids: number[]): number[] {
    const kept: number[] = [];
    for (const id of ids) {
      if (this.specials.has(id)) continue;
      const row = this.rows ? (this.rows[id] ?? -1) : id;
      if (row >= 0 && row < this.scales.length) kept.push(row);
    }
    return kept;
  }

  /** Sentence embeddings, float32 [texts.length × dim], row-major: the mean of the kept rows, then
   *  (when the artifact has one) the context net over them. */
  async encode(texts: string[]): Promise<Float32Array> {
    return this.encodeRows(texts.map((text) => this.keptRows(text)));
  }

  /** The same from each text's kept rows (`keptRows`), for callers that also need the rows themselves. */
  async encodeRows(rowsPerText: number[][]): Promise<Float32Array> {
    return this.context ? this.contextual(rowsPerText) : this.means(rowsPerText);
  }

  private means(rowsPerText: number[][]): Float32Array {
    const dim = this.dim;
    const out = new Float32Array(rowsPerText.length * dim);
    const acc = new Float64Array(dim);
    rowsPerText.forEach((rows, t) => {
      if (rows.length === 0) return; // no known token: zero vector (contract)
      acc.fill(0);
      for (const row of rows) {
        const scale = this.scales[row]!;
        const base = row * dim;
        for (let d = 0; d < dim; d++) acc[d]! += this.table[base + d]! * scale;
      }
      for (let d = 0; d < dim; d++) out[t * dim + d] = acc[d]! / rows.length;
    });
    return out;
  }

  /** context.onnx on each text's dequantised rows, one text per run: the graph's int8 MatMuls scale
   *  their activations per run, so batching texts would make one text's embedding depend on another's. */
  private async contextual(rowsPerText: number[][]): Promise<Float32Array> {
    const dim = this.dim;
    const out = new Float32Array(rowsPerText.length * dim);
    for (let t = 0; t < rowsPerText.length; t++) {
      const rows = rowsPerText[t]!;
      if (rows.length === 0) continue; // no known token: zero vector, the graph is not run (contract)
      const tokens = new Float32Array(rows.length * dim);
      rows.forEach((row, i) => {
        const scale = this.scales[row]!;
        const src = row * dim;
        for (let d = 0; d < dim; d++) tokens[i * dim + d] = this.table[src + d]! * scale;
      });
      const result = await this.context!.run({
        tokens: new Tensor("float32", tokens, [1, rows.length, dim]),
        mask: new Tensor("float32", new Float32Array(rows.length).fill(1), [1, rows.length]),
      });
      const embedding = result.embedding?.data as Float32Array | undefined;
      if (!embedding || embedding.length !== dim) throw modelBroken(`context.onnx did not return embedding [1, ${dim}].`);
      out.set(embedding, t * dim);
    }
    return out;
  }
}

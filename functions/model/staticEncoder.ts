// The distilled edge encoder (contract "Encoding a text", static kind), reproducing training's
// StaticEncoder.encode: tokenizer.json ids, specials dropped, mean of dequantised int8 table rows.
// The table stays an Int8Array over the bytes R2 returned (one copy, ~rows×dim bytes), looked up here
// in TypeScript: in ORT the same table would cost 4–6× its size in the wasm heap (recipes.md).
import { Tokenizer } from "@huggingface/tokenizers";
import { modelUnavailable } from "../errors";
import type { Manifest } from "./artifact";

export class StaticEncoder {
  readonly dim: number;
  private readonly specials: Set<number>;
  private readonly maxTokens: number;
  private readonly sepId: number | null;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly table: Int8Array,
    private readonly scales: Float32Array,
    private readonly rows: Int32Array | null,
    encoder: Manifest["encoder"],
  ) {
    this.dim = encoder.dim;
    this.specials = new Set(encoder.special_ids);
    this.maxTokens = encoder.max_tokens;
    const sep = tokenizer.encode("", { add_special_tokens: true }).ids;
    this.sepId = sep.length > 0 ? sep[sep.length - 1]! : null;
  }

  static create(manifest: Manifest, files: Map<string, ArrayBuffer>): StaticEncoder {
    const enc = manifest.encoder;
    const names = { table: enc.files.table ?? "static_table.i8", scales: enc.files.scales ?? "static_scales.f32" };
    const table = new Int8Array(files.get(names.table)!);
    const scales = new Float32Array(files.get(names.scales)!);
    const rowsFile = enc.files.rows ? files.get(enc.files.rows) : undefined;
    const rows = rowsFile ? new Int32Array(rowsFile) : null;
    const rowCount = scales.length;
    if (table.length !== rowCount * enc.dim || (enc.rows !== undefined && enc.rows !== rowCount)) {
      throw modelUnavailable(`The static table of ${manifest.version} is not [rows=${rowCount}, dim=${enc.dim}].`);
    }
    let tokenizerJson: object;
    try {
      tokenizerJson = JSON.parse(new TextDecoder().decode(files.get("tokenizer.json")!)) as object;
    } catch {
      throw modelUnavailable(`tokenizer.json of ${manifest.version} is not valid JSON.`);
    }
    // tokenizers.js ignores tokenizer.json's padding section: ids come back unpadded, as the contract wants.
    return new StaticEncoder(new Tokenizer(tokenizerJson, {}), table, scales, rows, enc);
  }

  /** Encodes one text to its token ids with specials, truncated to max_tokens like HF `truncation=True`. */
  tokenize(text: string): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    if (ids.length <= this.maxTokens) return ids;
    const cut = ids.slice(0, this.maxTokens - 1);
    if (this.sepId !== null) cut.push(this.sepId);
    return cut;
  }

  /** Sentence embeddings, float32 [texts.length × dim], row-major. */
  encode(texts: string[]): Float32Array {
    const dim = this.dim;
    const out = new Float32Array(texts.length * dim);
    const acc = new Float64Array(dim);
    texts.forEach((text, t) => {
      acc.fill(0);
      let kept = 0;
      for (const id of this.tokenize(text)) {
        if (this.specials.has(id)) continue;
        const row = this.rows ? (this.rows[id] ?? -1) : id;
        if (row < 0 || row >= this.scales.length) continue;
        const scale = this.scales[row]!;
        const base = row * dim;
        for (let d = 0; d < dim; d++) acc[d]! += this.table[base + d]! * scale;
        kept += 1;
      }
      if (kept === 0) return; // no known token: zero vector (contract)
      for (let d = 0; d < dim; d++) out[t * dim + d] = acc[d]! / kept;
    });
    return out;
  }
}

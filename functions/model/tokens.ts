// Tokenising for every edge encoder kind (contract "Encoding a text", step 1): tokenizer.json's ids with
// [CLS] … [SEP], truncated to the manifest's max_tokens the way HF tokenizers truncate (content first,
// then the specials), padding ignored.
import { Tokenizer } from "@huggingface/tokenizers";
import { modelBroken } from "../errors";
import type { Manifest } from "./artifact";

export abstract class EdgeTokenizer {
  abstract readonly dim: number;
  protected readonly sepId: number | null;

  constructor(
    protected readonly tokenizer: Tokenizer,
    readonly maxTokens: number,
  ) {
    const sep = tokenizer.encode("", { add_special_tokens: true }).ids;
    this.sepId = sep.length > 0 ? sep[sep.length - 1]! : null;
  }

  /** tokenizer.json's bytes as the tokenizer the contract names (parsed once, shared by versions with the same file). */
  static parseTokenizer(manifest: Manifest, bytes: ArrayBuffer): Tokenizer {
    let tokenizerJson: object;
    try {
      tokenizerJson = JSON.parse(new TextDecoder().decode(bytes)) as object;
    } catch {
      throw modelBroken(`tokenizer.json of ${manifest.version} is not valid JSON.`);
    }
    // tokenizers.js ignores tokenizer.json's padding section: ids come back unpadded, as the contract wants.
    return new Tokenizer(tokenizerJson, {});
  }

  /** A text's token ids with specials, truncated to max_tokens like HF `truncation=True`, and whether
   *  the text had more tokens than that. */
  tokenized(text: string): { ids: number[]; truncated: boolean } {
    const ids = this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    if (ids.length <= this.maxTokens) return { ids, truncated: false };
    const cut = ids.slice(0, this.maxTokens - 1);
    if (this.sepId !== null) cut.push(this.sepId);
    return { ids: cut, truncated: true };
  }

  tokenize(text: string): number[] {
    return this.tokenized(text).ids;
  }

  /** The rows a text's ids stand for (what encodeRows and the lexical evidence take). */
  abstract rowsOf(ids: number[]): number[];

  keptRows(text: string): number[] {
    return this.rowsOf(this.tokenize(text));
  }

  abstract encode(texts: string[]): Promise<Float32Array>;
  abstract encodeRows(rowsPerText: number[][]): Promise<Float32Array>;
  abstract release(): Promise<number>;
}

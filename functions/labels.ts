// Labels are compared the way a person reads them: "Refund" and "refund", or "café" typed with a
// combining accent and with a precomposed one, are the same label. Stored labels keep the spelling first
// given (the task's label list, else the first example that used it); new text is matched to it.
// A label holding a character nobody sees (a zero-width space or joiner, a direction override, a soft
// hyphen, a control character) is refused: "re\u200bfund" would look like "refund" and be another label.

// The invisible characters of the Basic Multilingual Plane: controls (Cc) and the Default_Ignorable_Code_Point
// ones, as a character-class body that reads the same in JavaScript and in Python (the OpenAPI pattern of
// a label, functions/validation.ts, is built from it). The few invisible characters beyond the BMP (tags,
// musical formatting) are not refused but ignored when labels are compared.
export const INVISIBLE_CLASS =
  "\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f" +
  "\\u202a-\\u202e\\u2060-\\u206f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufff8";
const INVISIBLE = new RegExp(`[${INVISIBLE_CLASS}]`, "u");
const IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Cc}]/gu;

export const labelKey = (label: string): string => label.normalize("NFKC").replace(IGNORABLE, "").toLowerCase();

/** The first invisible character in `label`, as U+XXXX, or null. */
export function invisibleCharacter(label: string): string | null {
  const found = INVISIBLE.exec(label);
  return found ? `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}` : null;
}

/** The spelling of `label` among `known` (same key), if any. */
export function canonicalLabel(known: readonly string[], label: string): string | undefined {
  const key = labelKey(label);
  return known.find((k) => labelKey(k) === key);
}

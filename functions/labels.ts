// Labels are compared the way a person reads them: "Refund" and "refund", or "café" typed with a
// combining accent and with a precomposed one, are the same label. Stored labels keep the spelling first
// given (the task's label list, else the first example that used it); new text is matched to it.
export const labelKey = (label: string): string => label.normalize("NFKC").toLowerCase();

/** The spelling of `label` among `known` (same key), if any. */
export function canonicalLabel(known: readonly string[], label: string): string | undefined {
  const key = labelKey(label);
  return known.find((k) => labelKey(k) === key);
}

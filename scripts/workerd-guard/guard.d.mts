/** The V8 flags the guarded workerd runs with. */
export const V8_FLAGS: string[];
/** Sets MINIFLARE_WORKERD_PATH to the guarded wrapper (not on Windows); returns its path or null. */
export function guardWorkerd(): string | null;

/** Sets MINIFLARE_WORKERD_PATH when the guard applies (Linux, < 4 CPUs); returns the wrapper path or null. */
export function guardWorkerd(): string | null;

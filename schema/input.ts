// GraphQL hands optional input fields over as null when they are omitted or null; the domain's zod
// schemas (functions/validation.ts) apply their defaults only to undefined. Validation itself is the
// domain's: resolvers pass inputs through and every rule lives in one place, shared with REST.
type WithoutNulls<T> = { [K in keyof T as null extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as null extends T[K] ? K : never]?: Exclude<T[K], null>;
};

export function withoutNulls<T extends object>(input: T): WithoutNulls<T> {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null)) as WithoutNulls<T>;
}

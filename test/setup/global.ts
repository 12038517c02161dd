// Global setup runs in Node (outside workerd): start fixtures the Worker reaches over real HTTP.
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}

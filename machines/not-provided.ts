/**
 * A placeholder for an action or actor that the runtime must provide with
 * `machine.provide(...)`. Machines stay pure; forgetting to wire one is a
 * loud error rather than a silent no-op.
 */
export function notProvided(name: string): () => never {
  return () => {
    throw new Error(`"${name}" was not provided to the machine; pass it with machine.provide()`);
  };
}

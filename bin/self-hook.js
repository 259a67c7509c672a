// A module resolution hook of the flowd command: an app's module that imports
// 'flowd' gets the very modules the command runs (src/index.ts), not a second
// copy from dist. One copy means one ConflictError, one TaskError, ...: the
// `instanceof` checks the README shows hold for errors the runtime throws.
const SELF = new URL('../src/index.ts', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  // Resolved on by the next hooks (tsx's), which know how to load a .ts file.
  if (specifier === 'flowd') return nextResolve(SELF, context);
  return nextResolve(specifier, context);
}

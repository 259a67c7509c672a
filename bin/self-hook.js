// A module resolution hook that the flowd command registers when an app's
// module could not otherwise reach this copy of flowd (no package.json
// beside the app, flowd run through npx or installed globally, or a second
// copy in the project): 'flowd' resolves to the copy that runs the app.
// actors/import-module.ts registers it, with this copy's entry as `data.self`.
let self;

export function initialize(data) {
  self = data.self;
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'flowd') return nextResolve(self, context);
  return nextResolve(specifier, context);
}

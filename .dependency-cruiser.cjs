/**
 * The layers of docs/architecture.md, checked by `npm run lint`:
 * src/kernel/ <- machines/ <- actors/ <- the rest of src/, and no cycles.
 * Type-only imports count: an interface belongs to the layer that declares it.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'A cycle means an interface lives with its user or implementer: move it to a file of its own, declared by its consumer.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'kernel-imports-no-flowd',
      severity: 'error',
      comment: 'src/kernel/ is the bottom layer: errors, shared interfaces, small helpers. It imports nothing else of flowd.',
      from: { path: '^src/kernel/' },
      to: { path: '^(machines|actors|src)/', pathNot: '^src/kernel/' },
    },
    {
      name: 'machines-import-only-the-kernel',
      severity: 'error',
      comment: 'Machines are pure: they name what they need in setup() and the runtime provides it.',
      from: { path: '^machines/' },
      to: { path: '^(actors|src)/', pathNot: '^src/kernel/' },
    },
    {
      name: 'machines-touch-no-world',
      severity: 'error',
      comment: 'A machine never imports node:* (I/O lives in actors/).',
      from: { path: '^machines/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'actors-import-no-src',
      severity: 'error',
      comment: 'actors/ sits below src/: it may import machines/ and src/kernel/ only.',
      from: { path: '^actors/' },
      to: { path: '^src/', pathNot: '^src/kernel/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|test|bench|examples|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};

#!/usr/bin/env node
// Entry point of the `audit-export` command: checks the Node version, then runs the TypeScript CLI through tsx.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `audit-export needs Node.js 22 or later (this is ${process.version}).\n` +
      'Run it through npm (`npm start`, `npx audit-export`), which uses the Node 22 pinned in devDependencies.\n',
  );
  process.exit(2);
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env node
// perch's executable: runs src/cli.ts under Node's TypeScript type stripping,
// asking for it explicitly on Node versions where it is not on by default.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
if (process.features.typescript) {
  await import(cli);
} else {
  const result = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings', cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

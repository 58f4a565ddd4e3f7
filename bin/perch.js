#!/usr/bin/env node
// perch's executable: runs src/cli.ts under Node's TypeScript type stripping.
// On a Node without it on by default, it runs the Node the project pins
// (node_modules/.bin/node, Node 24), or asks for type stripping explicitly.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const pinned = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
const [major, minor] = process.versions.node.split('.').map(Number);

/** Runs the CLI on another Node, passing signals on (a supervisor's SIGTERM, a reload's SIGHUP). */
function run(node, flags) {
  const child = spawn(node, [...flags, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
}

if (process.features.typescript) {
  // perch's modules compiled once and kept on disk (Node's compile cache, NODE_COMPILE_CACHE to move it,
  // NODE_DISABLE_COMPILE_CACHE=1 to turn it off): a start that finds them there never loads Node's
  // TypeScript stripper, ~18 MiB of memory the process would keep for nothing.
  nodeModule.enableCompileCache?.();
  await import(cli);
} else if (existsSync(pinned)) {
  run(pinned, []);
} else if (major > 22 || (major === 22 && minor >= 6)) {
  run(process.execPath, ['--experimental-strip-types', '--no-warnings']);
} else {
  process.stderr.write(`perch needs Node 22.6 or newer (it runs TypeScript by type stripping); this is Node ${process.versions.node}. Run "npm install" in perch's folder (it pins Node 24), or install a newer Node.\n`);
  process.exit(1);
}

#!/usr/bin/env node
// Copies the browser's third-party modules from node_modules into web/static/vendor/, where
// the server embeds and serves them (the client has no build step and no bundler). The
// copies are committed, so building or running the server never needs Node; CI reruns this
// script with --check and fails when web/static/vendor differs from what is committed.
//
//   node web/scripts/vendor.mjs          rewrite web/static/vendor/
//   node web/scripts/vendor.mjs --check  write nothing; exit 1 if a file is not current
//
//   chess.js (BSD-2-Clause): legal moves for highlighting and promotion in the chess board.
//   The server stays authoritative: it validates every move again.

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vendor = path.join(web, 'static', 'vendor');
const require = createRequire(path.join(web, 'package.json'));

const chessRoot = path.dirname(require.resolve('chess.js/package.json'));
const { version } = JSON.parse(await readFile(path.join(chessRoot, 'package.json'), 'utf8'));
const header =
  `// chess.js ${version} (BSD-2-Clause, see chess.js.LICENSE.txt), copied from npm by\n` +
  '// web/scripts/vendor.mjs. Do not edit: bump the version in web/package.json and rerun.\n';

/** Drops the source-map comment: the map is not vendored, and a missing map is noise. */
const noSourceMap = (/** @type {string} */ s) => s.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');

/** @type {Record<string, string>} */
const files = {
  'chess.js': header + noSourceMap(await readFile(path.join(chessRoot, 'dist', 'esm', 'chess.js'), 'utf8')),
  'chess.d.ts': header + noSourceMap(await readFile(path.join(chessRoot, 'dist', 'types', 'chess.d.ts'), 'utf8')),
  'chess.js.LICENSE.txt': await readFile(path.join(chessRoot, 'LICENSE'), 'utf8'),
};
if (process.argv.includes('--check')) {
  const stale = [];
  for (const [name, text] of Object.entries(files)) {
    const current = await readFile(path.join(vendor, name), 'utf8').catch(() => null);
    if (current !== text) stale.push(`web/static/vendor/${name}`);
  }
  if (stale.length > 0) {
    console.error(`stale vendored files: ${stale.join(', ')}\nrun: node web/scripts/vendor.mjs`);
    process.exit(1);
  }
  console.log(`web/static/vendor is current (chess.js ${version})`);
} else {
  await mkdir(vendor, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(vendor, name), text);
  console.log(`vendored chess.js ${version} into web/static/vendor/`);
}

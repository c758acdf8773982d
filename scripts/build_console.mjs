// Builds the web console (console/) into build/assets, the Worker's static assets directory
// (wrangler.toml [assets]): type-checks it with tsc, bundles it with esbuild (the SDK for joining
// LiveKit rooms in its own chunk, loaded only on "Join"), copies the static files and prints what
// the console weighs.
//
//   node scripts/build_console.mjs

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'console');
const ASSETS = path.join(ROOT, 'build', 'assets');
const OUT = path.join(ASSETS, 'console');

const tsc = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', SRC], { stdio: 'inherit' });
if (tsc.error) {
  console.error(`console: cannot run tsc (${tsc.error.code ?? tsc.error.message}): run \`bash scripts/setup.sh\` first`);
  process.exit(1);
}
if (tsc.status !== 0) {
  console.error('console: tsc found type errors (above)');
  process.exit(1);
}

fs.rmSync(ASSETS, { recursive: true, force: true });
const result = await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: { console: 'console/src/console.ts', admin: 'console/src/admin.ts' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  chunkNames: 'chunks/[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

// index.html files keep their folders: /console/ and /console/admin/ (served with or without
// the trailing slash by the assets' default html handling).
const copy = (from, to) => {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(path.join(SRC, 'static', from), to);
};
copy('index.html', path.join(OUT, 'index.html'));
copy('admin/index.html', path.join(OUT, 'admin', 'index.html'));
copy('console.css', path.join(OUT, 'console.css'));
copy('_headers', path.join(ASSETS, '_headers'));

// What a browser fetches for the first page, and what "Join" adds.
const weigh = (files) => {
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    raw += bytes.length;
    gzip += zlib.gzipSync(bytes, { level: 9 }).length;
  }
  return { raw, gzip };
};
const outputs = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).map((f) => path.join(ROOT, f));
const imported = (entry) => {
  const meta = result.metafile.outputs[path.relative(ROOT, entry)];
  return meta.imports.filter((i) => i.kind === 'import-statement').map((i) => path.join(ROOT, i.path));
};
const firstLoad = [path.join(OUT, 'index.html'), path.join(OUT, 'console.css'), path.join(OUT, 'console.js'), ...imported(path.join(OUT, 'console.js'))];
const lazy = outputs.filter((f) => !firstLoad.includes(f) && !f.endsWith('admin.js'));
const fmt = ({ raw, gzip }) => `${raw} bytes raw, ${gzip} bytes gzip`;
console.error(`console: first load (index.html, console.css, console.js${firstLoad.length > 3 ? ' + shared chunks' : ''}) — ${fmt(weigh(firstLoad))}`);
console.error(`console: the LiveKit web SDK chunk loaded on "Join" — ${fmt(weigh(lazy))}`);
const admin = path.join(OUT, 'admin.js');
console.error(`console: admin pages (admin/index.html, console.css, admin.js + shared chunks) — ${fmt(weigh([path.join(OUT, 'admin', 'index.html'), path.join(OUT, 'console.css'), admin, ...imported(admin)]))}`);

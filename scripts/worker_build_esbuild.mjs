#!/usr/bin/env node
// The esbuild worker-build runs (scripts/build.sh points ESBUILD_BIN here): the pinned esbuild,
// after one repair of the wasm-bindgen output it bundles.
//
// wasm-bindgen 0.2.130 writes the object of modules the wasm imports with one entry per *direct*
// import (a JS function the wasm calls with no shim between, as `withBody` and `sleep` in
// src/edge/glue.js are) instead of one per module, so the glue's module is a key there twice:
//   import * as import1 from "./snippets/rtcgate-…/src/edge/glue.js"
//   import * as import2 from "./snippets/rtcgate-…/src/edge/glue.js"
//   return { …, "./snippets/rtcgate-…/src/edge/glue.js": import1, "./snippets/rtcgate-…/src/edge/glue.js": import2, };
// Both are the same module namespace, so the wasm gets the same functions either way, but esbuild
// warns about the duplicate key here and again in `wrangler deploy`. This keeps the first entry of
// each module and drops the others with their `import * as` lines. It refuses to guess: a repeated
// key whose names are not exactly such namespace imports of that module fails the build, and
// esbuild is told to treat a duplicate key as an error, so a form this does not know cannot pass
// silently. (scripts/build.sh also checks the final bundle for any esbuild warning.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ESBUILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '.bin', 'esbuild');
// worker-build bundles in its staging directory, whose index.js is wasm-bindgen's output.
const WASM_BINDGEN_JS = 'index.js';

function fail(message) {
  console.error(`worker_build_esbuild: ${message}`);
  process.exit(1);
}

function dedupeImportKeys(file) {
  const text = fs.readFileSync(file, 'utf8');
  const entry = /^\s*"([^"]+)": (import\d+),?\s*$/;
  const namespace = /^\s*import \* as (import\d+) from "([^"]+)";?\s*$/;
  const kept = new Map(); // module → the name of the entry kept for it
  const dropped = new Map(); // name of a later entry for the same module → that module
  for (const line of text.split('\n')) {
    const m = line.match(entry);
    if (!m) continue;
    const [, module, name] = m;
    if (kept.has(module)) dropped.set(name, module);
    else kept.set(module, name);
  }
  if (dropped.size === 0) return;
  const imports = new Map(); // name → the module its `import * as` line imports
  for (const line of text.split('\n')) {
    const m = line.match(namespace);
    if (m) imports.set(m[1], m[2]);
  }
  for (const [name, module] of dropped) {
    const first = kept.get(module);
    if (imports.get(name) !== module || imports.get(first) !== module) {
      fail(`the entries ${first} and ${name} for ${module} are not both \`import * as\` of it; has wasm-bindgen changed?`);
    }
    // Used in its import and its entry only, so both can go.
    const uses = text.match(new RegExp(`\\b${name}\\b`, 'g')).length;
    if (uses !== 2) fail(`${name} appears ${uses} times in ${file}, not only in its import and its entry`);
  }
  const out = text.split('\n').filter((line) => {
    const name = line.match(entry)?.[2] ?? line.match(namespace)?.[1];
    return !dropped.has(name);
  });
  fs.writeFileSync(file, out.join('\n'));
}

const args = process.argv.slice(2);
if (args.includes('--bundle') && fs.existsSync(WASM_BINDGEN_JS)) dedupeImportKeys(WASM_BINDGEN_JS);
const run = spawnSync(ESBUILD, [...args, '--log-override:duplicate-object-key=error'], { stdio: 'inherit' });
if (run.error) fail(`could not run ${ESBUILD}: ${run.error.message}`);
process.exit(run.status ?? 1);

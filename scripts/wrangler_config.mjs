// wrangler.toml without its [build] table, for running a Worker that is already built: `make dev`
// (scripts/dev.sh builds once up front) and the end-to-end harness (tests/e2e/support/harness.mjs).
//
// Why not the [build] table with the build skipped (RTCGATE_PREBUILT=1)? wrangler 4.86.0's `dev`
// runs a [build] command once to find the entry, then again as soon as its watcher of `watch_dir`
// is ready, and restarts the Worker after it ("The file src changed, restarting build..." when
// nothing changed; cloudflare/workers-sdk#7934). Without a [build] command wrangler bundles `main`
// itself and starts the Worker once.
//
//   node scripts/wrangler_config.mjs IN OUT    writes IN without [build] to OUT

import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const TABLE_HEADER = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/;

/** `toml` without the [build] table (its header and every line up to the next table). */
export function withoutBuildTable(toml) {
  let inBuild = false;
  return toml
    .split('\n')
    .filter((line) => {
      const header = line.match(TABLE_HEADER);
      if (header) inBuild = header[1] === 'build';
      return !inBuild;
    })
    .join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node scripts/wrangler_config.mjs IN OUT');
    process.exit(2);
  }
  fs.writeFileSync(output, withoutBuildTable(fs.readFileSync(input, 'utf8')));
}

// Holds the served OpenAPI document to what the server does: schemathesis (PyPI, pinned in
// requirements-test.lock) against the real Worker (workerd under `wrangler dev`, local D1/KV) with
// every vendor on its strict stand-in, an API key and the admin token, every check, and the
// examples, coverage, fuzzing and stateful phases. Zero failures are allowed: any 5xx, any answer
// the document does not describe, any schema-valid request refused for a reason the document does
// not state. The run is bounded (examples per operation, and a wall-clock cap).
//
// Run: node tests/e2e/support/schemathesis.mjs   (after `bash scripts/build.sh` and `bash scripts/setup.sh`;
// `make test` runs it). Knobs: RTCGATE_SCHEMATHESIS_EXAMPLES (default 25 per operation and phase),
// RTCGATE_SCHEMATHESIS_SEED (default fixed, so a run is reproducible), RTCGATE_SCHEMATHESIS_REPORT
// (a directory for the JUnit/NDJSON reports).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, startWorker, adminSetup, randomToken } from './harness.mjs';
import { startVendorStandins, vendorVars } from './fixtures.mjs';

const EXAMPLES = Number(process.env.RTCGATE_SCHEMATHESIS_EXAMPLES || 25);
const SEED = Number(process.env.RTCGATE_SCHEMATHESIS_SEED || 20261130);
// A hard stop for the whole run (the phases themselves are bounded by EXAMPLES).
const WALL_CLOCK_MS = Number(process.env.RTCGATE_SCHEMATHESIS_WALL_CLOCK_MS || 8 * 60_000);
const SCHEMATHESIS = path.join(ROOT, '.venv', 'bin', 'schemathesis');

function log(line) {
  process.stderr.write(`[schemathesis] ${line}\n`);
}

async function main() {
  if (!fs.existsSync(SCHEMATHESIS)) throw new Error(`${SCHEMATHESIS} is missing: run \`bash scripts/setup.sh\``);
  const admin = randomToken();
  const vendors = await startVendorStandins();
  let worker;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-schemathesis-'));
  try {
    worker = await startWorker({
      name: 'schemathesis',
      vars: {
        ADMIN_TOKEN: admin,
        VENDOR_TIMEOUT_MS: 3000,
        RECORDING_DEFAULT_URI: 's3://schemathesis/{room}/',
        RECORDING_S3_ACCESS_KEY: 'AKIASCHEMATHESIS',
        RECORDING_S3_SECRET: randomToken(),
        RECORDING_S3_REGION: 'us-east-1',
        RECORDING_GCP_CREDENTIALS: '{"type":"service_account"}',
        RECORDING_AZURE_ACCOUNT_NAME: 'schemathesis',
        RECORDING_AZURE_ACCOUNT_KEY: randomToken(),
        // With a sealing key the destination and webhook routes run their validation and
        // storage (without one they answer every request 422 ENCRYPTION_NOT_CONFIGURED).
        RTCGATE_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
        // Endpoints schemathesis registers are made-up hosts: one short attempt each.
        WEBHOOK_MAX_ATTEMPTS: 1,
        WEBHOOK_TIMEOUT_MS: 2000,
        ...vendorVars(vendors),
      },
    });
    const { key } = await adminSetup(worker, { projectName: 'schemathesis' });
    // Credentials go through the environment, never the command line or the config file's text.
    const config = path.join(dir, 'schemathesis.toml');
    fs.writeFileSync(
      config,
      [
        // This API answers a schema-valid request it cannot carry out as asked with 422 (each
        // operation lists why: a vendor's own limits, idempotency, destination or vendor
        // availability); 400 stays a failure for valid data. The allowance names no route:
        // status_code_conformance (on with every check) fails any status an operation does not
        // document, so a 422 (or 429) passes only where its operation lists one.
        '[checks.positive_data_acceptance]',
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]',
        '',
        '[auth.openapi.apiKey]',
        'bearer = "${RTCGATE_ST_API_KEY}"',
        '[auth.openapi.adminToken]',
        'bearer = "${RTCGATE_ST_ADMIN_TOKEN}"',
        '',
      ].join('\n'),
    );
    const reportDir = process.env.RTCGATE_SCHEMATHESIS_REPORT || path.join(dir, 'report');
    const args = [
      '--config-file', config,
      'run', `${worker.url}/v1/openapi.json`,
      '--url', worker.url,
      '--checks', 'all',
      '--phases', 'examples,coverage,fuzzing,stateful',
      '--max-examples', String(EXAMPLES),
      '--seed', String(SEED),
      '--workers', '1',
      '--request-timeout', '30',
      '--max-redirects', '0',
      '--suppress-health-check', 'too_slow',
      '--report', 'junit,ndjson',
      '--report-dir', reportDir,
      '--output-truncate', 'false',
    ];
    log(`running ${EXAMPLES} examples per operation (seed ${SEED}) against ${worker.url}`);
    const code = await run(SCHEMATHESIS, args, {
      ...process.env,
      RTCGATE_ST_API_KEY: key,
      RTCGATE_ST_ADMIN_TOKEN: admin,
      NO_COLOR: '1',
    });
    const violations = vendors.violations();
    if (violations.length) {
      log(`the Worker sent the vendor stand-ins requests a vendor would reject:\n${vendors.describeViolations()}`);
    }
    if (code !== 0 || violations.length) {
      log(`reports in ${reportDir}`);
      process.exitCode = 1;
    }
  } finally {
    await worker?.stop();
    await vendors.close();
    if (!process.env.RTCGATE_SCHEMATHESIS_REPORT && process.exitCode !== 1) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
    const timer = setTimeout(() => {
      log(`no result after ${WALL_CLOCK_MS / 1000} s: stopping it`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, WALL_CLOCK_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ? 1 : code);
    });
  });
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    log(e?.stack ?? String(e));
    process.exit(1);
  },
);

// Long-running child processes of the end-to-end suite and of the dev scripts (wrangler dev,
// livekit-server): each leads its own process group, so stopping it stops what it started, and
// keeps a capped log of its output for error messages.
//
//   import { spawnLogged, killGroup } from './process.mjs';
//   const p = spawnLogged(bin, args, { cwd, env, label: 'livekit-server', live });
//   ... p.logs(), p.exited() ...
//   await p.terminate();
//
// This file installs no process handlers: the caller keeps its own `live` set and kills what is
// left in it on exit.

import { spawn } from 'node:child_process';

/** Log kept per child; past it, the older half is dropped. */
const LOG_CAP = 4 * 1024 * 1024;
const STREAM_LOGS = process.env.RTCGATE_E2E_LOG === '1';

/** Sends `signal` to the child's process group (or to the child alone if the group is gone). */
export function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Spawns `cmd` detached (its own process group) with stdout and stderr captured; the child is in
 * `live` until it exits. With RTCGATE_E2E_LOG=1 its output is also streamed to stderr, each line
 * prefixed with `[label]`.
 * @returns {{child: import('node:child_process').ChildProcess, logs(): string,
 *   exited(): {code: number|null, signal: string|null}|{error: Error}|null, exitPromise: Promise<void>,
 *   terminate(): Promise<void>}}
 */
export function spawnLogged(cmd, args, { cwd, env, label, live }) {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let log = '';
  const append = (d) => {
    const s = d.toString();
    if (STREAM_LOGS) process.stderr.write(s.replace(/^(?=.)/gm, `[${label}] `));
    log += s;
    if (log.length > LOG_CAP) log = log.slice(-LOG_CAP / 2);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve();
    });
    child.on('error', (error) => {
      exited = { error };
      live.delete(child);
      resolve();
    });
  });
  /** SIGTERM to the group, SIGKILL if it still runs 5 s later; resolves once the child has exited. */
  const terminate = async () => {
    if (exited) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
    await exitPromise;
    clearTimeout(timer);
  };
  return { child, logs: () => log, exited: () => exited, exitPromise, terminate };
}

// A closed-loop HTTP load generator for loopback benchmarks: `concurrency` clients each send
// the next request as soon as the previous answer is read, for a bounded time and count.
// Latency is measured per request from send to the last byte of the body.
import http from 'node:http';

/** Median and tail of a sorted array of milliseconds. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function once(agent, url, { method, headers, body }) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(url, { method, headers, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * @param {object} o
 * @param {string} o.url           full URL
 * @param {(i:number)=>object} o.request  builds {method, headers, body} for request i
 * @param {number} o.concurrency
 * @param {number} o.durationMs    stop starting requests after this long
 * @param {number} o.maxRequests   and after this many
 */
export async function runLoad({ url, request, concurrency, durationMs, maxRequests }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  const statuses = {};
  let issued = 0;
  const deadline = Date.now() + durationMs;
  const started = process.hrtime.bigint();
  async function client() {
    while (Date.now() < deadline && issued < maxRequests) {
      const i = issued++;
      const r = await once(agent, url, request(i));
      latencies.push(r.ms);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    statuses,
    latencies,
  };
}

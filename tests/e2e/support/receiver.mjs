// A loopback HTTP endpoint that records every request (webhook deliveries, a vendor's own
// webhooks) for the end-to-end suites.

import http from 'node:http';

import { freePort } from './harness.mjs';

/**
 * A loopback endpoint: `/ok` (and any path under it) takes everything, `/flaky` fails each
 * event's first two attempts, `/down` always fails.
 */
export async function startReceiver() {
  const port = await freePort();
  const calls = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = req.headers['webhook-id'];
      const path = req.url;
      const tries = calls.filter((c) => c.path === path && c.id === id).length + 1;
      calls.push({ path, id, body, headers: { ...req.headers }, at: Date.now() });
      const ok = path === '/ok' || path.startsWith('/ok/') || (path === '/flaky' && tries > 2);
      res.writeHead(ok ? 204 : 500).end();
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, calls, close: () => new Promise((r) => server.close(r)) };
}

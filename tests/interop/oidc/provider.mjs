// panva's oidc-provider on loopback, for tollgate's interop tests (tests/interop/run.sh).
//
// - issuer http://127.0.0.1:<port> (OIDC_PORT, 0 = any free port), client_credentials,
//   RFC 8707 resource indicators issuing RFC 9068 JWT access tokens (at+jwt),
//   introspection and revocation enabled;
// - resources: urn:tollgate:orders (JWT, RS256), urn:tollgate:orders-es256 (JWT, ES256,
//   same audience), urn:tollgate:orders-opaque (opaque, for introspection tests);
// - clients (client_secret_basic): orders-client (orders:read orders:write),
//   reader-client (orders:read), dpop-client (orders:read orders:write,
//   dpop_bound_access_tokens: only DPoP-bound tokens);
// - DPoP (RFC 9449, features.dPoP): on, with server nonces required for every request
//   that carries a proof (a nonce secret per process); requests without a proof are
//   unaffected;
// - keys: an RSA key first and a P-256 key second, generated at start. A control server
//   on a second loopback port restarts the provider: POST /rotate stops it (port closed,
//   connections dropped), then starts a new Provider on the same port whose jwks has a
//   NEW RSA key first, followed by the previous keys (so tokens already issued still
//   verify). GET /keys lists the kids in order.
//
// When listening, prints one JSON line {"issuer", "control"} and writes it to
// OIDC_INFO_FILE when set. Binds 127.0.0.1 only.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';
const AUDIENCE = 'urn:tollgate:orders';
const SCOPES = 'orders:read orders:write';

let generation = 0;
function newKey(kty) {
  generation += 1;
  const pair = kty === 'RSA'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `${kty === 'RSA' ? 'rsa' : 'ec'}-${generation}-${Date.now().toString(36)}`;
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

let keys = [newKey('RSA'), newKey('EC')];
const dpopNonceSecret = randomBytes(32);

function resourceInfo(resource) {
  switch (resource) {
    case 'urn:tollgate:orders':
      return {
        scope: SCOPES, audience: AUDIENCE, accessTokenTTL: 300,
        accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
      };
    case 'urn:tollgate:orders-es256':
      return {
        scope: SCOPES, audience: AUDIENCE, accessTokenTTL: 300,
        accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
      };
    case 'urn:tollgate:orders-opaque':
      return {
        scope: SCOPES, audience: 'urn:tollgate:orders-opaque', accessTokenTTL: 300,
        accessTokenFormat: 'opaque',
      };
    default:
      throw new errors.InvalidTarget();
  }
}

function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'orders-client', client_secret: 'orders-client-secret',
        grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
        token_endpoint_auth_method: 'client_secret_basic', scope: SCOPES,
      },
      {
        client_id: 'reader-client', client_secret: 'reader-client-secret',
        grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
        token_endpoint_auth_method: 'client_secret_basic', scope: 'orders:read',
      },
      {
        client_id: 'dpop-client', client_secret: 'dpop-client-secret',
        grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
        token_endpoint_auth_method: 'client_secret_basic', scope: SCOPES,
        dpop_bound_access_tokens: true,
      },
    ],
    scopes: ['openid', ...SCOPES.split(' ')],
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true, nonceSecret: dpopNonceSecret, requireNonce: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => resourceInfo(resource),
      },
    },
    cookies: { keys: ['tollgate-interop-cookie-key'] },
  });
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error', err));
  return provider;
}

// The IdP's HTTP server: one request handler delegating to the current Provider.
let port = Number(process.env.OIDC_PORT || 0);
let server;
let handler;
let issuer;

function listen() {
  return new Promise((resolve, reject) => {
    server = createServer((req, res) => handler(req, res));
    server.once('error', reject);
    server.listen(port, HOST, () => resolve(server.address().port));
  });
}

async function start() {
  port = await listen();
  issuer = `http://${HOST}:${port}`;
  handler = makeProvider(issuer).callback();
}

async function restartWithNewFirstKey() {
  await new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await new Promise((r) => setTimeout(r, 200)); // really down for a moment
  keys = [newKey('RSA'), ...keys];
  if (keys.length > 4) keys = keys.slice(0, 4);
  handler = makeProvider(issuer).callback();
  for (let attempt = 0; ; attempt += 1) {
    try {
      await listen();
      return;
    } catch (e) {
      if (attempt > 50) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

await start();

const control = createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/rotate') {
      await restartWithNewFirstKey();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kids: keys.map((k) => k.kid) }));
    } else if (req.method === 'GET' && req.url === '/keys') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kids: keys.map((k) => k.kid) }));
    } else {
      res.writeHead(404);
      res.end();
    }
  } catch (e) {
    console.error('control error', e);
    res.writeHead(500);
    res.end(String(e));
  }
});
control.listen(Number(process.env.OIDC_CONTROL_PORT || 0), HOST, () => {
  const info = JSON.stringify({
    issuer,
    control: `http://${HOST}:${control.address().port}`,
  });
  if (process.env.OIDC_INFO_FILE) writeFileSync(process.env.OIDC_INFO_FILE, info);
  console.log(info);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}

// Generates the fuzz key set (fuzz/keys/jwks.json, public keys only) and the seed corpora
// (fuzz/corpus/<target>/*). Run once with `node fuzz/seeds/gen.mjs`; the output is
// committed, so fuzzing needs no Node. Uses only node:crypto.
import { generateKeyPairSync, createHmac, sign } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const b64 = (b) => Buffer.from(b).toString('base64url');
const ISS = 'https://idp.fuzz.test';
const AUD = 'fuzz-api';
const HS_SECRET = Buffer.from('tollgate-fuzz-hmac-secret-0123456789abcdef', 'utf8'); // fixed, see verify.rs

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwks = {
  keys: [
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' },
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig', alg: 'ES256' },
  ],
};
mkdirSync(join(root, 'keys'), { recursive: true });
writeFileSync(join(root, 'keys', 'jwks.json'), JSON.stringify(jwks, null, 1) + '\n');

function token(alg, kid, claims, headerExtra = {}) {
  const header = { alg, kid, typ: 'at+jwt', ...headerExtra };
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  let sig;
  if (alg === 'RS256') sig = sign('sha256', Buffer.from(input), rsa.privateKey);
  else if (alg === 'ES256') sig = sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  else sig = createHmac('sha256', HS_SECRET).update(input).digest();
  return `${input}.${b64(sig)}`;
}
const claims = {
  iss: ISS, aud: AUD, sub: 'user-1', client_id: 'fuzz-client', iat: 1700000000,
  exp: 4102444800, jti: 'j1', scope: 'orders:read orders:write',
};
const tokens = {
  rs256: token('RS256', 'rsa-1', claims),
  es256: token('ES256', 'ec-1', claims),
  hs256: token('HS256', 'hs-1', claims),
  aud_array: token('ES256', 'ec-1', { ...claims, aud: ['x', AUD], scp: ['a', 'b'] }),
  nbf_act: token('RS256', 'rsa-1', { ...claims, nbf: 1700000000, act: { sub: 'svc', act: { sub: 'svc2' } } }),
  float_exp: token('HS256', 'hs-1', { ...claims, exp: 4102444800.5 }),
  expired: token('ES256', 'ec-1', { ...claims, exp: 1700000100 }),
  no_kid: token('HS256', undefined, claims),
  crit: token('ES256', 'ec-1', claims, { crit: ['b64'], b64: false }),
  alg_none: `${b64('{"alg":"none","typ":"at+jwt"}')}.${b64(JSON.stringify(claims))}.`,
  jwe: 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d',
};
const write = (target, name, data) => {
  const dir = join(root, 'corpus', target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), data);
};
for (const [name, t] of Object.entries(tokens)) {
  write('verify', name, t);
  write('jws', name, t);
}
write('bearer', 'ok', `Bearer ${tokens.es256}`);
write('bearer', 'lower', 'bearer abc.def.ghi');
write('bearer', 'padded', 'BEARER   abc==');
write('bearer', 'basic', 'Basic dXNlcjpwYXNz');
write('bearer', 'bad', 'Bearer a b,c');
write('jwks', 'fuzz_keys', JSON.stringify(jwks));
write('jwks', 'mixed', JSON.stringify({ keys: [
  { kty: 'oct', k: b64(HS_SECRET), kid: 'hs' },
  { kty: 'OKP', crv: 'Ed25519', x: b64(Buffer.alloc(32, 7)), kid: 'ed' },
  { kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'weak' },
  { kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA', use: 'enc' },
  { kty: 'RSA', x5c: ['MIIB'], key_ops: ['verify'] },
] }));
write('scope', 'plain', 'orders:read orders:write');
write('scope', 'double', 'a  b');
write('scope', 'json_str', '"a b c"');
write('scope', 'json_arr', '["a","b","a"]');
write('scope', 'claims', JSON.stringify({ scope: 'a b', scp: ['c'] }));
console.log(`wrote keys/jwks.json and ${Object.keys(tokens).length} tokens`);

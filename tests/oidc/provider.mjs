// A real OpenID provider for strata's tests: panva's oidc-provider (certified), on plain
// http://127.0.0.1, with one static confidential client. The test harness starts it
// (tests/support/oidc_provider.rs) and drives its login form over HTTP.
//
//   node provider.mjs            prints "listening <issuer>" once it serves (a free port)
//   OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URIS (comma-separated): the client
//
// Accounts are made by the test: PUT /__test/accounts/<login> {email, email_verified,
// name, tamper}. The login form's username is the account, and the ID token's `sub`; the
// password is not checked. `tamper` makes /token hand out a bad ID token for that account
// (re-signed after the change): nonce, aud, iss, azp (another client, the audience right),
// exp, iat, sig (another key, the same
// kid) or kid (a key id the provider never published).
import { createServer } from 'node:http';
import { generateKeyPairSync, sign, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const jwk = (kid) => ({
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid, alg: 'RS256', use: 'sig',
});
const key = jwk(randomUUID());
const stranger = jwk(key.kid);
const accounts = new Map();

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const unb64 = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());

// The ID token `idToken` with `tamper` applied, signed again.
function tampered(idToken, tamper) {
  const [h, p] = idToken.split('.');
  const header = unb64(h);
  const claims = unb64(p);
  const now = Math.floor(Date.now() / 1000);
  let signer = key;
  switch (tamper) {
    case 'nonce': claims.nonce = 'not-the-nonce'; break;
    case 'aud': claims.aud = 'someone-else'; break;
    case 'iss': claims.iss = `${claims.iss}/other`; break;
    case 'azp': claims.azp = 'someone-else'; break;
    case 'exp': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'iat': claims.iat = now + 3600; claims.exp = now + 7200; break;
    case 'sig': signer = stranger; break;
    case 'kid': signer = stranger; header.kid = 'unknown-kid'; break;
    default: return idToken;
  }
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: signer, format: 'jwk' });
  return `${input}.${signature.toString('base64url')}`;
}

const server = createServer();
await new Promise((r) => server.listen(Number(process.env.OP_PORT ?? 0), '127.0.0.1', r));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OP_CLIENT_ID ?? 'strata',
    client_secret: process.env.OP_CLIENT_SECRET ?? 'strata-secret',
    redirect_uris: (process.env.OP_REDIRECT_URIS ?? '').split(',').filter(Boolean),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [key] },
  pkce: { required: () => true },
  responseTypes: ['code'],
  scopes: ['openid'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The address and name in the ID token itself, as Google puts them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['test-only-cookie-key'] },
  ttl: { AuthorizationCode: 60, IdToken: 3600, AccessToken: 3600, Interaction: 600, Session: 600, Grant: 600 },
  async findAccount(ctx, sub) {
    const a = accounts.get(sub);
    if (!a) return undefined;
    return {
      accountId: sub,
      async claims() { return { sub, email: a.email, email_verified: a.email_verified, name: a.name }; },
    };
  },
  // A first-party client: consent is granted without a screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/__test\/accounts\/([^/]+)$/);
  if (m && ctx.method === 'PUT') {
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    accounts.set(decodeURIComponent(m[1]), JSON.parse(Buffer.concat(chunks).toString() || '{}'));
    ctx.status = 204;
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
    const { sub } = unb64(ctx.body.id_token.split('.')[1]);
    const tamper = accounts.get(sub)?.tamper;
    if (tamper) ctx.body = { ...ctx.body, id_token: tampered(ctx.body.id_token, tamper) };
  }
});

server.on('request', provider.callback());
console.log(`listening ${issuer}`);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { server.closeAllConnections(); process.exit(0); });

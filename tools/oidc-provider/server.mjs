// The local stack's OpenID provider: the certified `oidc-provider` (pinned in package.json) on
// 127.0.0.1 only, as an organisation's identity provider would be seen by keyward's approval
// function. One confidential client (keyward), the authorization-code flow with PKCE (S256) only,
// ID tokens signed RS256 with a key generated at start, the `email` scope with `email` and
// `email_verified`. A few fixed accounts sign in by name on a plain HTML form (no password, no
// JavaScript), and consent for keyward's client is granted without asking.
//
// Test hook: `POST /_keyward/oidc-faults` {"mode", "count"} makes the next `count` token responses'
// ID token wrong in exactly one way (MODES below); `GET` lists what is pending, `DELETE` clears it.
//
// Usage: node tools/oidc-provider/server.mjs --port N --client-id ID --redirect-uri URI
// with the client's secret in the environment as OIDC_CLIENT_SECRET (never on the command line).

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'redirect-uri': { type: 'string' },
  },
});
const secret = process.env.OIDC_CLIENT_SECRET ?? '';
for (const [name, value] of Object.entries({ '--port': args.port, '--client-id': args['client-id'], '--redirect-uri': args['redirect-uri'], OIDC_CLIENT_SECRET: secret })) {
  if (!value) {
    console.error(`oidc-provider: ${name} is missing (usage: --port N --client-id ID --redirect-uri URI, secret in OIDC_CLIENT_SECRET)`);
    process.exit(2);
  }
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 1024 || port > 65535) {
  console.error(`oidc-provider: --port ${args.port} is not a port number from 1024 to 65535`);
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

/** The people who can sign in: sub = the login name. `unverified` claims the approver's address
 * without having verified it, which keyward must not accept as the approver. */
const ACCOUNTS = {
  approver: { email: 'approver@example.com', email_verified: true },
  approver2: { email: 'approver2@example.com', email_verified: true },
  stranger: { email: 'stranger@example.com', email_verified: true },
  unverified: { email: 'approver@example.com', email_verified: false },
};

// The signing key lives only in this process: a restarted provider has a new one, as after a rotation.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = randomBytes(8).toString('hex');
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: args['client-id'],
    client_secret: secret,
    redirect_uris: [args['redirect-uri']],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  responseTypes: ['code'],
  pkce: { required: () => true },
  scopes: ['openid', 'email'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // keyward reads the person's e-mail from the ID token, not from userinfo.
  conformIdTokenClaims: false,
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  features: { devInteractions: { enabled: false } },
  // Seconds: a sign-in takes a minute at most; codes are exchanged at once.
  ttl: { AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, IdToken: 3600, AccessToken: 600 },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, claims: () => ({ sub: id, ...account }) };
  },
});

// ---------------------------------------------------------------------------------------------------
// The ID token faults

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const unb64 = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

function resign(header, payload) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

/** Each fault changes one property of a genuine ID token; where the token must still carry a valid
 * signature for the defect to be the only one, it is signed again with the provider's own key. */
const MODES = {
  'tamper-signature': (header, payload, signature) => {
    const bytes = Buffer.from(signature, 'base64url');
    bytes[0] ^= 0xff;
    bytes[bytes.length - 1] ^= 0xff;
    return `${b64(header)}.${b64(payload)}.${bytes.toString('base64url')}`;
  },
  'wrong-audience': (header, payload) => resign(header, { ...payload, aud: 'someone-else' }),
  expired: (header, payload) => resign(header, { ...payload, exp: Math.floor(Date.now() / 1000) - 600 }),
  'wrong-nonce': (header, payload) => resign(header, { ...payload, nonce: randomBytes(16).toString('base64url') }),
  'alg-none': (header, payload) => `${b64({ ...header, alg: 'none' })}.${b64(payload)}.`,
  'wrong-issuer': (header, payload) => resign(header, { ...payload, iss: `${issuer}/someone-else` }),
};
/** The pending faults, applied to the next token responses in order. */
const faults = [];

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString() || 'null');
}

async function faultHook(ctx) {
  if (ctx.method === 'GET') {
    ctx.body = faults;
    return;
  }
  if (ctx.method === 'DELETE') {
    faults.length = 0;
    ctx.status = 204;
    return;
  }
  if (ctx.method !== 'POST') {
    ctx.status = 405;
    return;
  }
  let body;
  try {
    body = await readJson(ctx.req);
  } catch {
    body = null;
  }
  const count = body?.count ?? 1;
  if (!body || !Object.hasOwn(MODES, body.mode) || !Number.isInteger(count) || count < 1 || count > 100) {
    ctx.status = 400;
    ctx.body = { error: `expected {"mode": one of ${Object.keys(MODES).join(', ')}, "count": 1 to 100}` };
    return;
  }
  for (let i = 0; i < count; i += 1) faults.push(body.mode);
  ctx.body = faults;
}

// ---------------------------------------------------------------------------------------------------
// Sign-in: a login form by account name; consent for the one client is given at once

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, problem) {
  const names = Object.keys(ACCOUNTS).map(escape).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (local OpenID provider)</title></head>
<body><h1>Sign in</h1>
<p>Local OpenID provider for keyward's local stack. Accounts: ${names}. Any password.</p>
${problem ? `<p role="alert">${escape(problem)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Account <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

async function grantConsent(details) {
  const { prompt: { details: missing }, grantId, session, params } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  return { consent: { grantId: await grant.save() } };
}

async function interaction(ctx, uid, action) {
  ctx.set('cache-control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'this sign-in belongs to another interaction');
  let result;
  if (details.prompt.name === 'login') {
    if (action !== 'login' || ctx.method !== 'POST') {
      ctx.type = 'html';
      ctx.body = loginPage(uid);
      return;
    }
    const login = (await readForm(ctx.req)).get('login')?.trim() ?? '';
    if (!Object.hasOwn(ACCOUNTS, login)) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = loginPage(uid, `No account named "${login}".`);
      return;
    }
    result = { login: { accountId: login } };
  } else if (details.prompt.name === 'consent') {
    result = await grantConsent(details);
  } else {
    ctx.throw(501, `prompt ${details.prompt.name} is not implemented`);
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

// ---------------------------------------------------------------------------------------------------
// Routes around the provider's own, and a log line per request (the path only: queries carry codes)

provider.use(async (ctx, next) => {
  const started = Date.now();
  try {
    const route = /^\/interaction\/([\w-]+)(?:\/(login))?$/.exec(ctx.path);
    if (ctx.path === '/_keyward/oidc-faults') {
      await faultHook(ctx);
    } else if (ctx.path === '/favicon.ico') {
      // A browser asks every origin for its icon; a 404 would be an error in the browser test's console.
      ctx.status = 204;
    } else if (route) {
      await interaction(ctx, route[1], route[2]);
    } else {
      await next();
      if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token && faults.length) {
        const mode = faults.shift();
        const [header, payload, signature] = ctx.body.id_token.split('.');
        ctx.body = { ...ctx.body, id_token: MODES[mode](unb64(header), unb64(payload), signature) };
        console.log(`fault ${mode} applied to the ID token`);
      }
    }
  } finally {
    console.log(`${new Date().toISOString()} ${ctx.method} ${ctx.path} ${ctx.status} ${Date.now() - started} ms`);
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening: issuer ${issuer}, client ${args['client-id']}, redirect_uri ${args['redirect-uri']}`);
});

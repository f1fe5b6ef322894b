// A real OAuth 2.0 / OpenID Connect authorization server (panva's oidc-provider)
// for the bridge's Go tests. It is started by auth/oauthtest; it is not a mock.
//
//   node server.js --port 0     (0 = any free port)
//
// Once ready it prints exactly one stdout line, "listening http://127.0.0.1:PORT";
// that URL is the issuer. Everything else (oidc-provider notices and warnings,
// errors) goes to stderr. It stops on SIGTERM, SIGINT, or when stdin closes, so
// a test binary that dies cannot leave it running.
//
// Environment:
//   ACCESS_TTL    access token lifetime in seconds (default 600)
//   AUTO_CONSENT  "1" (default): interactions finish by themselves, logging in
//                 user "alice" and granting every requested scope and resource,
//                 so a plain GET of the authorization URL, following redirects
//                 with a cookie jar, ends at the redirect_uri with code + state.
//                 "0": oidc-provider's built-in development login and consent
//                 forms are served instead (any login name and password work).
//
// Device flow: a device code is approved by the test-only endpoint
//   POST /test/device/approve   (form: user_code=XXXX-XXXX)
// which marks the pending code as authorized by "alice" with every requested
// scope and resource; 204 on success, 400 when the code is unknown, expired or
// already used. An explicit call is used rather than approving on some poll, so
// tests decide when the user "acts" and can observe authorization_pending first.
// The device authorization response carries "interval": 1 so clients poll fast.
//
// Requests: GET /test/requests answers a JSON array of "METHOD /path", one for
// every request the server received before it, in order; queries and bodies
// (codes, tokens) are left out. Tests check with it what was asked, and what
// never was.
//
// Clients: "bridge-test" is pre-registered as a public native client
// (RFC 8252): its redirect_uri http://127.0.0.1/callback matches that URI on
// any loopback port. Open Dynamic Client Registration (RFC 7591) is enabled too.
// Confidential clients, for the token endpoint's client authentication:
// "bridge-basic" (client_secret_basic) and "bridge-post" (client_secret_post),
// native like bridge-test, and "bridge-machine" (client_secret_basic), which
// may use only the client-credentials grant; each one's secret is
// "<client id>-secret".
//
// Tokens: PKCE (S256) is required for every client. Refresh tokens are issued
// to any client allowed the refresh_token grant, are rotated on every use, and
// presenting an already used one revokes the whole grant. A token requested
// with resource=<http(s) URL on a loopback host> (RFC 8707) is a JWT whose aud
// is that URL, signed with the key published at jwks_uri; such a resource
// accepts any scope. State lives in memory only.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

// oidc-provider prints its NOTICE lines with console.info (stdout); keep stdout
// for the single "listening" line. Imported dynamically so this runs first.
console.info = console.error;
console.log = console.error;
const { default: Provider, errors } = await import('oidc-provider');

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port ${args.port}`);
  process.exit(2);
}

const accessTTL = Number(process.env.ACCESS_TTL || 600);
if (!Number.isInteger(accessTTL) || accessTTL <= 0) {
  console.error(`invalid ACCESS_TTL ${process.env.ACCESS_TTL}`);
  process.exit(2);
}
const autoConsent = (process.env.AUTO_CONSENT ?? '1') !== '0';

const USER = 'alice';
const OIDC_SCOPES = ['openid', 'offline_access'];
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const DEVICE_POLL_INTERVAL = 1; // seconds

// A fresh signing key per run: tests must fetch jwks_uri rather than pin keys,
// and oidc-provider's bundled development keys would be the same everywhere.
function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

function isLoopbackURL(value) {
  const url = URL.parse(value);
  return url !== null && ['http:', 'https:'].includes(url.protocol) && LOOPBACK_HOSTS.has(url.hostname);
}

// RFC 8707: any loopback http(s) URL is a resource server that takes JWT
// access tokens. It "has" every scope in play (requested now or granted
// before), so whatever a client asks for can be consented to and issued.
function resourceServerInfo(ctx, resource) {
  if (!isLoopbackURL(resource)) {
    throw new errors.InvalidTarget('resource must be an http(s) URL on a loopback host');
  }
  const scopes = new Set((ctx.oidc.params?.scope ?? '').split(' '));
  for (const s of (ctx.oidc.entities.Grant?.getResourceScope(resource) ?? '').split(' ')) scopes.add(s);
  for (const s of OIDC_SCOPES) scopes.delete(s);
  scopes.delete('');
  return {
    scope: [...scopes].join(' '),
    audience: resource,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

const configuration = {
  clients: [{
    client_id: 'bridge-test',
    application_type: 'native', // loopback redirect URIs match on any port
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  }, ...['client_secret_basic', 'client_secret_post'].map((method) => ({
    client_id: method === 'client_secret_basic' ? 'bridge-basic' : 'bridge-post',
    client_secret: (method === 'client_secret_basic' ? 'bridge-basic' : 'bridge-post') + '-secret',
    application_type: 'native',
    token_endpoint_auth_method: method,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  })), {
    client_id: 'bridge-machine',
    client_secret: 'bridge-machine-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  }],
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  pkce: { required: () => true },
  // Refresh tokens for every client that may use them, not only when
  // offline_access was asked for (MCP clients rarely ask), and independent of
  // the browser session, the way a CLI keeps them.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: () => true,
  clientBasedCORS: () => true,
  ttl: {
    AccessToken: accessTTL,
    AuthorizationCode: 60,
    DeviceCode: 600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Session: 24 * 3600,
  },
  features: {
    devInteractions: { enabled: !autoConsent },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    registration: { enabled: true, initialAccessToken: false },
    revocation: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    introspection: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: async (ctx, resource) => resourceServerInfo(ctx, resource),
    },
  },
};

// Finishes whatever prompt an interaction stopped at: login as alice, or
// consent to everything that is missing from the grant.
async function finishInteraction(provider, ctx) {
  const { prompt, params, session, grantId } = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  switch (prompt.name) {
    case 'login':
      result = { login: { accountId: USER } };
      break;
    case 'consent': {
      const grant = (grantId && await provider.Grant.find(grantId))
        || new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
      break;
    }
    default:
      result = { error: 'access_denied', error_description: `no automatic answer for prompt ${prompt.name}` };
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Same normalization oidc-provider applies before storing a user code.
const normalizeUserCode = (input) => input.toUpperCase().replace(/\W/g, '');

// Does what a user confirming the code in a browser would end up doing: the
// device code gets an account and a grant holding every requested scope.
async function approveDevice(provider, ctx) {
  const userCode = (await readForm(ctx.req)).get('user_code') ?? '';
  const code = userCode && await provider.DeviceCode.findByUserCode(normalizeUserCode(userCode));
  if (!code || code.accountId || code.error) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'unknown, expired or already used user_code' };
    return;
  }

  const requested = (code.params.scope ?? '').split(' ').filter(Boolean);
  const oidcScopes = requested.filter((s) => OIDC_SCOPES.includes(s));
  const resourceScopes = requested.filter((s) => !OIDC_SCOPES.includes(s));
  const resources = [code.params.resource ?? []].flat();

  const grant = new provider.Grant({ accountId: USER, clientId: code.clientId });
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  for (const resource of resources) {
    if (resourceScopes.length) grant.addResourceScope(resource, resourceScopes.join(' '));
  }

  Object.assign(code, {
    accountId: USER,
    authTime: Math.floor(Date.now() / 1000),
    grantId: await grant.save(),
    // Without a resource, non-OIDC scopes mean nothing here (oidc-provider
    // drops them from such requests too).
    scope: [...oidcScopes, ...(resources.length ? resourceScopes : [])].join(' '),
    resource: resources.length > 1 ? resources : resources[0],
  });
  await code.save();
  ctx.status = 204;
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);

  // Runs before oidc-provider's own routes (Provider#use inserts it there).
  const requests = [];
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/test/requests') {
      ctx.body = requests.slice();
      return;
    }
    requests.push(`${ctx.method} ${ctx.path}`);
    if (autoConsent && ctx.method === 'GET' && /^\/interaction\/[^/]+$/.test(ctx.path)) {
      return finishInteraction(provider, ctx);
    }
    if (ctx.method === 'POST' && ctx.path === '/test/device/approve') {
      return approveDevice(provider, ctx);
    }
    await next();
    // RFC 8628 clients wait 5 s between polls when no interval is given.
    if (ctx.method === 'POST' && ctx.path === '/device/auth' && ctx.body?.device_code) {
      ctx.body.interval = DEVICE_POLL_INTERVAL;
    }
  });

  // Failed requests get a line on stderr, which the Go side shows when a test fails.
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'registration_create.error',
    'device_authorization.error', 'revocation.error', 'introspection.error', 'jwks.error', 'discovery.error']) {
    provider.on(event, (ctx, err) => {
      console.error(`${event}: ${ctx.method} ${ctx.path}: ${err.name}: ${err.error_description ?? err.message}`);
    });
  }

  server.on('request', provider.callback());
  process.stdout.write(`listening ${issuer}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();

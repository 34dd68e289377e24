import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, TransientError } from '../../functions/common/errors.js';
import { HttpClient } from '../../functions/common/http.js';
import { createLogger, observe } from '../../functions/common/observability.js';
import { REDACTED, SecretScrubber, registerSecret, scrubber } from '../../functions/common/scrubber.js';
import { mftRuntimeFromEnvironment } from '../../functions/mft/runtime.js';
import { mftFiltersSchema } from '../../functions/mft/model.js';
import { xrayRuntimeFromEnvironment } from '../../functions/xray/runtime.js';
import { XrayClient } from '../../functions/xray/client.js';
import { parseConfig } from '../../infra/config.js';

/**
 * Redaction by value (functions/common/scrubber.ts) and the configuration that refuses what can only leak
 * or fail: each check names the setting, never its value, and a header that cannot be sent is not retried.
 */

const TOKEN = 'xray-tok-0123456789abcdefABCDEF';

afterEach(() => scrubber.clear());

describe('SecretScrubber', () => {
  it('finds a secret in the forms it travels in: as is, URL-encoded, JSON-escaped, base64, line by line', () => {
    const scrubber = new SecretScrubber();
    const secret = 'p@ss/word+with"quote\nand-a-second-line';
    scrubber.register(secret);
    const forms = [
      secret,
      encodeURIComponent(secret),
      JSON.stringify(secret),
      Buffer.from(secret).toString('base64'),
      'p@ss/word+with"quote',
      'and-a-second-line',
    ];
    for (const form of forms) {
      const text = `before ${form} after`;
      expect(scrubber.scrub(text), form).not.toContain(form);
      expect(scrubber.scrub(text)).toContain(REDACTED);
    }
    expect(scrubber.scrub('nothing secret here')).toBe('nothing secret here');
  });

  it('leaves values shorter than 8 characters alone (they would turn up inside ordinary words)', () => {
    const scrubber = new SecretScrubber();
    scrubber.register('short');
    expect(scrubber.scrub('a short line')).toBe('a short line');
  });

  it('cuts every URL in a message to its origin and path, and registers query values and user-info of links', () => {
    const scrubber = new SecretScrubber();
    expect(scrubber.scrub('GET https://user:hunter22@storage.test/reports/1.json?expires=1&signature=abc failed')).toBe(
      'GET https://storage.test/reports/1.json failed',
    );
    scrubber.registerUrl('https://u:link-password-1@storage.test/r?X-Amz-Signature=0123456789abcdef&expires=99');
    expect(scrubber.scrub('sig 0123456789abcdef and link-password-1')).toBe(`sig ${REDACTED} and ${REDACTED}`);
  });

  it('keeps a JSON line valid even where a secret ends inside an escape sequence', () => {
    const scrubber = new SecretScrubber();
    scrubber.register('ends-with-backslash\\');
    const line = `${JSON.stringify({ message: 'x ends-with-backslash\\ y', n: 1 })}\n`;
    const scrubbed = scrubber.scrubJson(line);
    expect(JSON.parse(scrubbed)).toEqual({ message: `x ${REDACTED} y`, n: 1 });
    expect(scrubbed.endsWith('\n')).toBe(true);
  });

  it('forgets the oldest per-call secrets past its bound, but never the pinned ones', () => {
    const scrubber = new SecretScrubber();
    scrubber.register('pinned-configured-password', { pinned: true });
    scrubber.register('the-very-first-access-token');
    for (let index = 0; index < 3_000; index++) scrubber.register(`token-${String(index).padStart(8, '0')}`);
    expect(scrubber.scrub('pinned-configured-password')).toBe(REDACTED);
    expect(scrubber.scrub('token-00002999')).toBe(REDACTED);
    expect(scrubber.scrub('the-very-first-access-token')).toBe('the-very-first-access-token');
  });

  it('replaces the longest secret starting at a place whole, whatever order they came in, and each of many', () => {
    const scrubber = new SecretScrubber();
    scrubber.register('sig=abcdefgh');
    scrubber.register('sig=abcdefgh0123456789');
    scrubber.register('sig=abcdefgh01');
    expect(scrubber.scrub('a sig=abcdefgh0123456789 b sig=abcdefgh01x c sig=abcdefghX')).toBe(`a ${REDACTED} b ${REDACTED}x c ${REDACTED}X`);
    // Hundreds of signed links known at once (a warm container): each is still found, next to each other too.
    for (let index = 0; index < 400; index++) scrubber.register(`link-signature-${index}`);
    expect(scrubber.scrub('link-signature-7link-signature-399.')).toBe(`${REDACTED}${REDACTED}.`);
    expect(scrubber.contains('no secret here, link-signature-')).toBe(false);
    expect(scrubber.contains('..link-signature-234')).toBe(true);
  });
});

describe('every line and every Fail cause is scrubbed', () => {
  it('log lines are scrubbed by value, and a failing step throws the same error class with a scrubbed message', async () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const logger = createLogger({ destination: destination as never });
    registerSecret(TOKEN);
    logger.info({ note: `token ${TOKEN}` }, `message with ${TOKEN}`);
    const step = observe('xray', 'ExportPages', async () => {
      throw new TransientError(`Headers.append: "Bearer ${TOKEN}" is an invalid header value.`);
    }, () => logger);
    const failure = (await step({}).catch((error: unknown) => error)) as Error;
    expect(failure).toBeInstanceOf(TransientError);
    expect(failure.name).toBe('TransientError');
    expect(failure.message).toBe(`Headers.append: "Bearer ${REDACTED}" is an invalid header value.`);
    expect(failure.stack).not.toContain(TOKEN);
    expect(lines.length).toBe(2);
    for (const line of lines) {
      expect(line).not.toContain(TOKEN);
      expect(() => JSON.parse(line)).not.toThrow();
    }
  });

  it('a header value a request cannot carry is a ConfigError naming the header, sent nowhere and not retried', async () => {
    let calls = 0;
    const fetch = (async () => {
      calls++;
      return new Response('{}');
    }) as typeof globalThis.fetch;
    const http = new HttpClient({ fetch, retry: { maxAttempts: 5, baseDelayMs: 1 } });
    const client = new XrayClient('https://acme.jfrog.test', { accessToken: `${TOKEN}\n-rest-of-it` }, http);
    const window = { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T01:00:00.000Z' };
    const failure = (await client.jsonPage({ window, offset: 0, pageSize: 10, dryRun: false }).catch((error: unknown) => error)) as Error;
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure.message).toMatch(/authorization header would hold a line break.*check the configured credentials/);
    expect(failure.message).not.toContain(TOKEN.slice(0, 12));
    expect(calls).toBe(0);
  });

  it('a request fetch refuses to build (no cause) is not retried and does not quote the value', async () => {
    let calls = 0;
    const fetch = (async () => {
      calls++;
      throw new TypeError(`Headers.append: "Bearer ${TOKEN}" is an invalid header value.`);
    }) as typeof globalThis.fetch;
    registerSecret(TOKEN);
    const http = new HttpClient({ fetch, retry: { maxAttempts: 5, baseDelayMs: 1 } });
    const failure = (await http.request({ url: 'https://acme.jfrog.test/x' }).catch((error: unknown) => error)) as Error;
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure.message).not.toContain(TOKEN);
    expect(calls).toBe(1);
  });
});

describe('configuration refuses what can only leak or fail', () => {
  const xrayBase = { EXPORT_BUCKET: 'bucket', XRAY_BASE_URL: 'https://acme.jfrog.test', XRAY_ACCESS_TOKEN: TOKEN };
  const mftBase = {
    EXPORT_BUCKET: 'bucket',
    MFT_BASE_URL: 'https://api.mft.test',
    MFT_TENANT_ID: 'tenant',
    TOKEN_SEALING_LOCAL_KEY: Buffer.alloc(32, 7).toString('base64'),
  };
  const refusal = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it.each([
    ['XRAY_BASE_URL', { XRAY_BASE_URL: 'https://admin:pw-SECRET-1@acme.jfrog.test' }, /XRAY_BASE_URL: must not carry a user name or password/],
    ['XRAY_BASE_URL', { XRAY_BASE_URL: 'http://acme.jfrog.test' }, /XRAY_BASE_URL: must be https \(plain http is accepted only for loopback/],
    ['XRAY_BASE_URL', { XRAY_BASE_URL: 'https://acme.jfrog.test/?token=pw-SECRET-1' }, /XRAY_BASE_URL: must not have a query string/],
    ['S3_ENDPOINT', { S3_ENDPOINT: 'http://key:pw-SECRET-1@127.0.0.1:4569' }, /S3_ENDPOINT: must not carry a user name or password/],
    ['S3_ENDPOINT', { S3_ENDPOINT: 'http://s3.internal.test' }, /S3_ENDPOINT: must be https/],
    ['DYNAMODB_ENDPOINT', { DYNAMODB_ENDPOINT: 'https://u:pw-SECRET-1@dynamodb.test' }, /DYNAMODB_ENDPOINT: must not carry/],
    ['XRAY_ACCESS_TOKEN', { XRAY_ACCESS_TOKEN: `${TOKEN}\npw-SECRET-1-second-line` }, /XRAY_ACCESS_TOKEN: holds a line break/],
    ['XRAY_ACCESS_TOKEN', { XRAY_ACCESS_TOKEN: `${TOKEN} pw-SECRET-1` }, /XRAY_ACCESS_TOKEN: holds a space/],
    ['XRAY_USERNAME', { XRAY_ACCESS_TOKEN: '', XRAY_USERNAME: 'ad:min', XRAY_PASSWORD: 'pw-SECRET-1' }, /XRAY_USERNAME: holds a colon/],
    ['XRAY_PASSWORD', { XRAY_ACCESS_TOKEN: '', XRAY_USERNAME: 'admin', XRAY_PASSWORD: 'pw-SECRET-1\r\n' }, /XRAY_PASSWORD: holds a line break/],
  ])('Xray: %s', (_name, override, message) => {
    const text = refusal(() => xrayRuntimeFromEnvironment({ ...xrayBase, ...override }));
    expect(text).toMatch(message);
    expect(text).not.toContain('pw-SECRET-1');
    expect(text).not.toContain(TOKEN);
  });

  it.each([
    [{ MFT_BASE_URL: 'https://tenant:pw-SECRET-1@api.mft.test' }, /MFT_BASE_URL: must not carry a user name or password/],
    [{ MFT_BASE_URL: 'http://api.mft.test' }, /MFT_BASE_URL: must be https/],
    [{ S3_ENDPOINT: 'https://a:pw-SECRET-1@s3.test' }, /S3_ENDPOINT: must not carry/],
  ])('MFT: %j', async (override, message) => {
    const failure = (await mftRuntimeFromEnvironment({ ...mftBase, ...override }).catch((error: unknown) => error)) as Error;
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure.message).toMatch(message);
    expect(failure.message).not.toContain('pw-SECRET-1');
  });

  it('accepts https, and plain http on loopback (local emulators)', async () => {
    for (const url of ['https://acme.jfrog.test', 'http://127.0.0.1:8081', 'http://localhost:8081', 'http://[::1]:8081']) {
      expect(xrayRuntimeFromEnvironment({ ...xrayBase, XRAY_BASE_URL: url, S3_ENDPOINT: 'http://127.0.0.1:4569' }).settings.bucket).toBe('bucket');
    }
    const runtime = await mftRuntimeFromEnvironment({ ...mftBase, MFT_BASE_URL: 'http://127.0.0.1:9000' });
    expect(runtime.client.apiOrigin).toBe('http://127.0.0.1:9000');
  });

  it('refuses a sourceIp with a zone id before any vendor call, in the input and in the CDK config', () => {
    expect(mftFiltersSchema.safeParse({ sourceIp: 'fe80::1%eth0' }).error?.issues[0]?.message).toMatch(/without a zone id/);
    expect(mftFiltersSchema.safeParse({ sourceIp: 'fe80::1' }).success).toBe(true);
    expect(() => parseConfig({ sources: { mft: { filters: { sourceIp: 'fe80::1%eth0' } } } })).toThrow(/zone id/);
  });

  it('refuses a one-off schedule on a day that does not exist, and accepts a real one', () => {
    expect(() => parseConfig({ sources: { mft: { schedule: 'at(2026-02-30T00:00:00)' } } })).toThrow(/sources\.mft\.schedule .*on a real date/);
    expect(parseConfig({ sources: { mft: { schedule: 'at(2028-02-29T00:00:00)' } } }).sources.mft[0]!.schedule).toBe('at(2028-02-29T00:00:00)');
  });
});

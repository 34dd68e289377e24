import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import type { FaultKind } from '../../emulators/common/faults.js';
import { HttpClient } from '../../functions/common/http.js';
import { listFolder } from '../../functions/common/manifest.js';
import { LocalKeyTokenSealer } from '../../functions/common/token-sealer.js';
import { cleanupReports } from '../../functions/mft/housekeeping.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import { errorOrigin, type ExecutionEvent, type LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { readObject } from '../support/stored-events.js';

/**
 * Secret hygiene: both sources run on the twin — on their happy paths and on every failure path an attacker
 * or a careless operator can reach (a token pasted with a line break, user-info in each configured URL, a
 * presigned link with user-info, a download redirected to a metadata stand-in, every fault kind of both
 * emulators) — through the handlers and through the CLI (`--target env`, `--json`). Every state input and
 * output of the local engine (the execution history), every Fail cause, every console call, all
 * stdout/stderr, the handlers' log file and every object in S3 are captured; none may hold an MFT access
 * token, a client assertion, a line of the MFT private key, an Xray token or password (or their Basic
 * form, or a line of them), a presigned link's signature or user-info. And the MFT bearer token only ever
 * goes to the API host, downloads only where the rules allow.
 *
 * The emulator side (alg none, wrong keys, replayed assertions are rejected) is covered by
 * test/emulators/mft-auth.test.ts.
 */

interface SentRequest {
  url: URL;
  authorization?: string;
}

let twin: Twin;
let directory: string;
const sent: SentRequest[] = [];
const issuedTokens = new Set<string>();
const assertions = new Set<string>();
const signatures = new Set<string>();
/** Other secret values the scenarios make up (link passwords, tokens with line breaks, URL passwords). */
const madeUp = new Set<string>();
/** How the test rewrites a report's presigned link before the exporter sees it (user-info, a redirector). */
let rewriteLink: ((link: string) => string) | undefined;
/** A vendor that quotes the credentials it was sent in its error answers (only value-based redaction stops that). */
let echoCredentials = false;
/** A client timeout shorter than the exporter's own (a hang costs a second here, not two minutes). */
const CLIENT_GIVES_UP_MS = 1_500;

/** The events, results and output every scenario leaves; checked for secrets at the end. */
const events: ExecutionEvent[] = [];
const results: LocalRunResult[] = [];
const captured: string[] = [];

const originalFetch = globalThis.fetch;

/** fetch that records where each request went, with which Authorization, and every secret the vendors hand out. */
const recordingFetch = (async (input: string | URL | Request, init?: RequestInit) => {
  const url = new URL(String(input instanceof Request ? input.url : input));
  const headers = new Headers(init?.headers);
  const request: SentRequest = { url };
  const authorization = headers.get('authorization');
  if (authorization) request.authorization = authorization;
  sent.push(request);
  if (echoCredentials && authorization && !url.pathname.endsWith('/oauth/token')) {
    const message = `request rejected: header "Authorization: ${authorization}" is not allowed here`;
    return new Response(JSON.stringify({ errors: [{ message }], error_description: message }), { status: 400, headers: { 'content-type': 'application/json' } });
  }
  if (typeof init?.body === 'string') {
    const assertion = /"client_assertion"\s*:\s*"([^"]+)"/.exec(init.body)?.[1];
    if (assertion) assertions.add(assertion);
  }
  const signal = init?.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(CLIENT_GIVES_UP_MS)]) : AbortSignal.timeout(CLIENT_GIVES_UP_MS);
  const response = await originalFetch(input, { ...init, signal });
  if (url.pathname.endsWith('/oauth/token') && response.ok) {
    const text = await response.clone().text().catch(() => '');
    const token = /"access_token"\s*:\s*"([^"]+)"/.exec(text)?.[1];
    if (token) issuedTokens.add(token);
  }
  if (response.ok && url.pathname.startsWith('/v1/reports')) {
    let text = await response.clone().text().catch(() => '');
    for (const match of text.matchAll(/signature=([0-9a-f]+)/g)) signatures.add(match[1]!);
    if (rewriteLink) {
      const rewrite = rewriteLink;
      text = text.replace(/"url":"([^"]+)"/g, (_all, link: string) => `"url":${JSON.stringify(rewrite(link))}`);
      return new Response(text, { status: response.status, headers: response.headers });
    }
  }
  return response;
}) as typeof fetch;

/** Stand-ins: the instance metadata service, and a storage host that redirects there. */
let metadata: { server: Server; url: string; requests: string[] };
let redirector: { server: Server; url: string; requests: string[] };

async function standIn(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'secrets-'));
  twin = await startTwin({ directory, mft: { reportReadyAfterMs: 0, eventsPerHour: 60 }, xray: { events: 3_000 } });
  metadata = await standIn((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"Code":"Success","AccessKeyId":"ASIA-STAND-IN","SecretAccessKey":"stand-in-secret-access-key","Token":"stand-in-session-token"}');
  });
  redirector = await standIn((_req, res) => {
    res.writeHead(302, { location: `${metadata.url}/latest/meta-data/iam/security-credentials/role` });
    res.end();
  });
});

afterAll(async () => {
  await twin?.close();
  for (const stand of [metadata, redirector]) {
    stand?.server.closeAllConnections();
    await new Promise((resolve) => stand?.server.close(resolve));
  }
  await rm(directory, { recursive: true, force: true });
});

/** Captures stdout, stderr and console while `run` runs. */
async function capturing<T>(run: () => Promise<T>): Promise<T> {
  const keep = (...parts: unknown[]) => captured.push(parts.map((part) => (typeof part === 'string' ? part : safeStringify(part))).join(' '));
  const writes = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown) => (keep(String(chunk)), true)) as never),
  );
  const consoles = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void keep(...args)),
  );
  try {
    return await run();
  } finally {
    writes.forEach((spy) => spy.mockRestore());
    consoles.forEach((spy) => spy.mockRestore());
  }
}

const http = () => new HttpClient({ fetch: recordingFetch, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
const options = () => ({ waitMs: 10, retryMs: 5, logger: twin.logger, onEvent: (event: ExecutionEvent) => events.push(event) });

/** What an operator reads of a failed run: its error, the windows' errors, and the full cause where it began (the history). */
function failureOf(result: LocalRunResult): string {
  const windows = ((result.output as { windows?: { error?: { Error?: string; Cause?: string } }[] })?.windows ?? []).map((window) => window.error);
  return safeStringify({ error: result.error, cause: result.cause, windows, origin: errorOrigin(result) });
}

describe('secret hygiene on the twin', () => {
  it('happy paths and vendor errors: nothing secret in state, logs, output or S3', async () => {
    await capturing(async () => {
      const mftRuntime = twin.mftRuntime({ http: http(), initialLookbackHours: 3, pollIntervalSeconds: 1 });
      // Error paths too: a 503 with an HTML page, a reset, a truncated download, expired tokens, a failed report.
      twin.mft.faults.add({ match: { server: 'api', method: 'POST' }, fault: { kind: 'status', status: 503, body: 'html' }, times: 1 });
      twin.mft.faults.add({ match: { server: 'storage' }, fault: { kind: 'truncate', afterBytes: 10 }, times: 1 });
      twin.mft.faults.add({ fault: { kind: 'expire-tokens' }, after: 4, times: 1 });
      twin.mft.failNextReports(1, 'failed');
      results.push(await runMftExport(mftRuntime, { ...options(), input: {} }));
      twin.mft.faults.clear();
      results.push(await runMftExport(mftRuntime, { ...options(), input: { type: 'csv' } }));
      await cleanupReports(mftRuntime, await mftRuntime.auth.issue(), { olderThanMs: 0, dryRun: true });

      twin.xray!.faults.add({ fault: { kind: 'status', status: 502, body: 'html' }, times: 2 });
      results.push(await runXrayExport(twin.xrayRuntime({ http: http(), initialLookbackHours: 6 }), { ...options(), input: {} }));
      const basic = { username: twin.xray!.admin.username, password: twin.xray!.admin.password };
      results.push(
        await runXrayExport(twin.xrayRuntime({ http: http(), credentials: basic, initialLookbackHours: 6, prefix: 'basic/' }), { ...options(), input: { format: 'csv' } }),
      );
      // A run that fails for good (wrong password): its error is in state and in the logs.
      const wrong = { username: basic.username, password: `${basic.password}-wrong` };
      madeUp.add(wrong.password);
      results.push(await runXrayExport(twin.xrayRuntime({ http: http(), credentials: wrong, prefix: 'wrong/' }), { ...options(), input: {} }));
    });
    expect(results.map((result) => result.status)).toEqual(['FAILED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'FAILED']);
    expect(issuedTokens.size).toBeGreaterThan(1); // re-issued after the expiry
    expect(signatures.size).toBeGreaterThan(0);
    await expectNoSecretAnywhere();
  }, 60_000);

  it('an Xray token with a line break fails at once as ConfigError, unsent and unretried, and leaks nowhere', async () => {
    const token = `${twin.xray!.admin.accessToken.slice(0, 20)}\n${twin.xray!.admin.accessToken.slice(20)}`;
    madeUp.add(token);
    const before = twin.xray!.requestLog.length;
    const sentBefore = sent.length;
    const result = await capturing(() =>
      runXrayExport(twin.xrayRuntime({ http: http(), credentials: { accessToken: token }, prefix: 'newline/' }), { ...options(), input: {} }),
    );
    results.push(result);
    expect(result.status).toBe('FAILED');
    expect(failureOf(result)).toMatch(/ConfigError/);
    expect(failureOf(result)).toMatch(/authorization header would hold a line break/);
    expect(result.events.filter((event) => event.type === 'StateRetried')).toHaveLength(0);
    expect(twin.xray!.requestLog.length).toBe(before);
    expect(sent.length).toBe(sentBefore);
    await expectNoSecretAnywhere();
  }, 60_000);

  it('a presigned link with user-info is refused: the window fails, the report is deleted, nothing is stored', async () => {
    rewriteLink = (link) => link.replace('http://', 'http://report-user:link-password-SECRET-42@');
    madeUp.add('link-password-SECRET-42');
    try {
      const result = await capturing(() =>
        runMftExport(twin.mftRuntime({ http: http(), prefix: 'userinfo/' }), { ...options(), input: { window: { start: '2026-11-02T00:00:00Z', end: '2026-11-02T01:00:00Z' } } }),
      );
      results.push(result);
      expect(result.status).toBe('FAILED');
      expect(failureOf(result)).toMatch(/DownloadRefusedError.*carries user-info/);
    } finally {
      rewriteLink = undefined;
    }
    expect(twin.mft.reports()).toEqual([]);
    expect(await listFolder(twin.s3Client, twin.s3.bucket, 'userinfo/')).toEqual([]);
    await expectNoSecretAnywhere();
  }, 60_000);

  it('a download redirected to a metadata stand-in is refused: the stand-in gets nothing, nothing is stored, the report is deleted', async () => {
    rewriteLink = (link) => {
      const original = new URL(link);
      return `${redirector.url}${original.pathname}${original.search}`;
    };
    try {
      const result = await capturing(() =>
        runMftExport(twin.mftRuntime({ http: http(), prefix: 'redirect/' }), { ...options(), input: { window: { start: '2026-11-03T00:00:00Z', end: '2026-11-03T01:00:00Z' } } }),
      );
      results.push(result);
      expect(result.status).toBe('FAILED');
      expect(failureOf(result)).toMatch(/DownloadRefusedError.*Download from http:\/\/127\.0\.0\.1:\d+\/reports\/[^ ]+ was redirected \(HTTP 302\) to http:\/\/127\.0\.0\.1:\d+\/latest\/meta-data\/iam\/security-credentials\/role, another origin over plain http: refused, nothing was stored/);
      // Not retried: the vendor's answer would send the copy there again.
      expect(result.events.filter((event) => event.type === 'StateRetried' && event.state?.name === 'CopyReportToS3')).toHaveLength(0);
    } finally {
      rewriteLink = undefined;
    }
    expect(redirector.requests.length).toBeGreaterThan(0);
    expect(metadata.requests).toEqual([]);
    expect(twin.mft.reports()).toEqual([]);
    expect(await listFolder(twin.s3Client, twin.s3.bucket, 'redirect/')).toEqual([]);
    const log = await readFile(twin.logFile, 'utf8');
    expect(log).not.toContain('stand-in-secret-access-key');
  }, 60_000);

  it('a vendor that quotes the credentials in its error answers: the quote is scrubbed from every message', async () => {
    echoCredentials = true;
    try {
      await capturing(async () => {
        results.push(await runXrayExport(twin.xrayRuntime({ http: http(), prefix: 'echo/' }), { ...options(), input: {} }));
        const basic = { username: twin.xray!.admin.username, password: twin.xray!.admin.password };
        results.push(await runXrayExport(twin.xrayRuntime({ http: http(), credentials: basic, prefix: 'echo/' }), { ...options(), input: {} }));
        results.push(
          await runMftExport(twin.mftRuntime({ http: http(), prefix: 'echo/' }), { ...options(), input: { window: { start: '2026-11-06T00:00:00Z', end: '2026-11-06T01:00:00Z' } } }),
        );
      });
    } finally {
      echoCredentials = false;
    }
    const echoed = results.slice(-3);
    expect(echoed.map((result) => result.status)).toEqual(['FAILED', 'FAILED', 'FAILED']);
    for (const result of echoed) expect(failureOf(result)).toMatch(/Authorization: (Bearer|Basic|bearer) \[redacted\]/);
    await expectNoSecretAnywhere();
  }, 60_000);

  it('every fault kind of both emulators: whatever fails or is retried, nothing secret is written', async () => {
    const mftKinds = new Set<FaultKind>();
    const xrayKinds = new Set<FaultKind>();
    const mftRuntime = twin.mftRuntime({ http: http(), prefix: 'faults/', pollIntervalSeconds: 1, maxWaitSeconds: 2 });
    const window = (hour: number) => ({ start: `2026-11-04T${String(hour).padStart(2, '0')}:00:00Z`, end: `2026-11-04T${String(hour + 1).padStart(2, '0')}:00:00Z` });
    await capturing(async () => {
      const mftRules = [
        { match: { server: 'token' as const }, fault: { kind: 'status' as const, status: 502 as const, body: 'html' as const }, times: 1 },
        { match: { server: 'api' as const, method: 'GET' }, fault: { kind: 'status' as const, status: 429 as const, retryAfterSeconds: 0 }, times: 1 },
        { match: { server: 'api' as const }, fault: { kind: 'reset' as const }, times: 1 },
        { match: { server: 'storage' as const }, fault: { kind: 'delay' as const, ms: CLIENT_GIVES_UP_MS * 2 }, times: 1 },
        // A hang on the API (through the test's client timeout); storage is reached by the guarded transport.
        { match: { server: 'api' as const, method: 'GET' }, fault: { kind: 'hang' as const }, times: 1 },
        { match: { server: 'storage' as const }, fault: { kind: 'truncate' as const, afterBytes: 5 }, times: 1 },
        { match: { server: 'api' as const }, fault: { kind: 'expire-tokens' as const }, after: 2, times: 1 },
        { match: { server: 'api' as const }, fault: { kind: 'report-outcome' as const, outcome: 'failed' as const }, times: 1 },
        { match: { server: 'api' as const }, fault: { kind: 'report-outcome' as const, outcome: 'never-completes' as const }, times: 1 },
      ];
      for (const rule of mftRules) twin.mft.faults.add(rule);
      for (let hour = 0; hour < 4; hour++) results.push(await runMftExport(mftRuntime, { ...options(), input: { window: window(hour) } }));
      for (const fault of twin.mft.faults.injected()) mftKinds.add(fault.kind);
      twin.mft.faults.clear();

      const xrayRules = [
        { fault: { kind: 'status' as const, status: 503 as const, body: 'html' as const }, times: 1 },
        { fault: { kind: 'reset' as const }, times: 1 },
        { fault: { kind: 'delay' as const, ms: CLIENT_GIVES_UP_MS * 2 }, times: 1 },
        { fault: { kind: 'hang' as const }, times: 1 },
        { fault: { kind: 'truncate' as const, afterBytes: 50 }, times: 1 },
      ];
      for (const rule of xrayRules) twin.xray!.faults.add(rule);
      const basic = { username: twin.xray!.admin.username, password: twin.xray!.admin.password };
      results.push(await runXrayExport(twin.xrayRuntime({ http: http(), prefix: 'faults-json/', initialLookbackHours: 3 }), { ...options(), input: {} }));
      results.push(
        await runXrayExport(twin.xrayRuntime({ http: http(), credentials: basic, prefix: 'faults-csv/', initialLookbackHours: 3 }), { ...options(), input: { format: 'csv' } }),
      );
      for (const fault of twin.xray!.faults.injected()) xrayKinds.add(fault.kind);
      twin.xray!.faults.clear();
    });
    expect([...mftKinds].sort()).toEqual(['delay', 'expire-tokens', 'hang', 'report-outcome', 'reset', 'status', 'truncate']);
    expect([...xrayKinds].sort()).toEqual(['delay', 'hang', 'reset', 'status', 'truncate']);
    expect(twin.mft.reports()).toEqual([]);
    await expectNoSecretAnywhere();
  }, 120_000);
});

describe('secret hygiene of the CLI (--target env, --json)', () => {
  /** Runs `audit-export …` in this process with `env`, its HTTP going through the recording fetch. */
  async function cli(args: string[], env: Record<string, string>): Promise<number> {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    globalThis.fetch = recordingFetch;
    try {
      return await capturing(() => main(args));
    } finally {
      globalThis.fetch = originalFetch;
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  }

  const s3 = () => ({
    EXPORT_BUCKET: twin.s3.bucket,
    S3_ENDPOINT: twin.s3.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: twin.s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: twin.s3.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
  });
  const mftEnv = () => ({
    ...s3(),
    MFT_BASE_URL: twin.mft.baseUrl,
    MFT_TENANT_ID: twin.mft.tenantId,
    MFT_KID: twin.mft.kid,
    MFT_PRIVATE_KEY_FILE: twin.mftPrivateKeyFile,
    TOKEN_SEALING_LOCAL_KEY: LocalKeyTokenSealer.generateKey(),
    MFT_DOWNLOAD_ALLOW_LOOPBACK: 'true',
    MFT_POLL_INTERVAL_SECONDS: '1',
    EXPORT_PREFIX: 'cli/',
  });
  const xrayEnv = () => ({ ...s3(), XRAY_BASE_URL: twin.xray!.baseUrl, XRAY_ACCESS_TOKEN: twin.xray!.admin.accessToken, EXPORT_PREFIX: 'cli/' });
  const window = ['--start', '2026-11-05T00:00:00Z', '--end', '2026-11-05T02:00:00Z'];

  it('refuses each configured URL with user-info, and a token with a line break, with exit 2 and no value', async () => {
    const secret = 'url-password-SECRET-9';
    madeUp.add(secret);
    const withUserInfo = (url: string) => url.replace('http://', `http://operator:${secret}@`);
    expect(await cli(['run', 'xray', '--target', 'env', '--json'], { ...xrayEnv(), XRAY_BASE_URL: withUserInfo(twin.xray!.baseUrl) })).toBe(2);
    expect(await cli(['run', 'xray', '--target', 'env', '--json'], { ...xrayEnv(), S3_ENDPOINT: withUserInfo(twin.s3.endpoint) })).toBe(2);
    expect(await cli(['run', 'mft', '--target', 'env', '--json'], { ...mftEnv(), MFT_BASE_URL: withUserInfo(twin.mft.baseUrl) })).toBe(2);
    expect(await cli(['run', 'mft', '--target', 'env', '--json'], { ...mftEnv(), DYNAMODB_ENDPOINT: withUserInfo(twin.dynamo.endpoint) })).toBe(2);
    const wrapped = `${twin.xray!.admin.accessToken.slice(0, 16)}\n${twin.xray!.admin.accessToken.slice(16)}`;
    madeUp.add(wrapped);
    expect(await cli(['run', 'xray', '--target', 'env', '--json'], { ...xrayEnv(), XRAY_ACCESS_TOKEN: wrapped })).toBe(2);
    const output = captured.join('');
    expect(output).toMatch(/XRAY_BASE_URL: must not carry a user name or password/);
    expect(output).toMatch(/S3_ENDPOINT: must not carry/);
    expect(output).toMatch(/MFT_BASE_URL: must not carry/);
    expect(output).toMatch(/DYNAMODB_ENDPOINT: must not carry/);
    expect(output).toMatch(/XRAY_ACCESS_TOKEN: holds a line break/);
    await expectNoSecretAnywhere();
  }, 60_000);

  it('runs that fail and succeed through faults print no secret in progress, errors or the --json summary', async () => {
    twin.mft.faults.add({ match: { server: 'api', method: 'POST' }, fault: { kind: 'status', status: 503, body: 'html' }, times: 1 });
    twin.mft.faults.add({ match: { server: 'storage' }, fault: { kind: 'truncate', afterBytes: 10 }, times: 1 });
    twin.mft.failNextReports(1, 'failed');
    expect(await cli(['run', 'mft', '--target', 'env', '--json', ...window], mftEnv())).toBe(1);
    twin.mft.faults.clear();
    rewriteLink = (link) => link.replace('http://', 'http://cli-user:cli-link-password-SECRET@');
    madeUp.add('cli-link-password-SECRET');
    try {
      expect(await cli(['run', 'mft', '--target', 'env', '--json', ...window], mftEnv())).toBe(1);
    } finally {
      rewriteLink = undefined;
    }
    expect(await cli(['run', 'mft', '--target', 'env', '--json', ...window], mftEnv())).toBe(0);
    const wrong = `${twin.xray!.admin.password}-wrong-in-cli`;
    madeUp.add(wrong);
    expect(
      await cli(['run', 'xray', '--target', 'env', '--json', ...window], { ...xrayEnv(), XRAY_ACCESS_TOKEN: '', XRAY_USERNAME: twin.xray!.admin.username, XRAY_PASSWORD: wrong }),
    ).toBe(1);
    twin.xray!.faults.add({ fault: { kind: 'status', status: 502, body: 'html' }, times: 2 });
    expect(await cli(['run', 'xray', '--target', 'env', '--json', ...window], xrayEnv())).toBe(0);
    const output = captured.join('');
    expect(output).toMatch(/"status":"FAILED"/);
    expect(output).toMatch(/DownloadRefusedError/);
    expect(output).toMatch(/VendorAuthError/);
    expect(output).toMatch(/"status":"SUCCEEDED"/);
    expect(twin.mft.reports()).toEqual([]);
    await expectNoSecretAnywhere();
  }, 120_000);

  it('sends the MFT bearer token only to the API host, the Xray credentials only to Xray, and nothing to storage', () => {
    const apiOrigin = new URL(twin.mft.baseUrl).origin;
    const xrayOrigin = new URL(twin.xray!.baseUrl).origin;
    const downloads = twin.mft.requestLog.filter((entry) => entry.server === 'storage');
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.filter((entry) => entry.authorization)).toEqual([]);
    for (const request of sent.filter((candidate) => candidate.authorization)) {
      const scheme = request.authorization!.split(' ')[0]!.toLowerCase();
      const expected = request.url.origin === xrayOrigin ? xrayOrigin : apiOrigin;
      expect(request.url.origin, `${scheme} credentials sent to ${request.url.origin}`).toBe(expected);
      if (request.url.origin === apiOrigin) expect(scheme).toBe('bearer');
    }
    for (const token of issuedTokens) {
      expect(sent.filter((request) => request.authorization?.includes(token) && request.url.origin !== apiOrigin)).toEqual([]);
    }
  });
});

/** Every secret known so far, as values and in the forms they travel in (Basic, line by line). */
function secretValues(): Record<string, string[]> {
  const admin = twin.xray!.admin;
  const keyLines = twin.mft.privateKeyPem.split('\n').filter((line) => line && !line.startsWith('-----'));
  const lines = (values: Iterable<string>) => [...values].flatMap((value) => [value, ...value.split(/\r?\n/)]);
  return {
    'MFT access token': [...issuedTokens],
    'MFT client assertion (and its signature)': [...assertions].flatMap((jwt) => [jwt, jwt.split('.')[2]!]),
    'MFT private key line': keyLines,
    'Xray access token': [admin.accessToken],
    'Xray password': [admin.password],
    'Xray Basic credentials': [Buffer.from(`${admin.username}:${admin.password}`).toString('base64')],
    'presigned signature': [...signatures],
    'made-up secret (line by line)': lines(madeUp),
  };
}

async function expectNoSecretAnywhere(): Promise<void> {
  const logFile = await readFile(twin.logFile, 'utf8');
  expect(logFile.length).toBeGreaterThan(0);
  const s3Text: string[] = [];
  for (const key of await listFolder(twin.s3Client, twin.s3.bucket, '')) {
    if (key.endsWith('.json') || key.endsWith('.csv')) s3Text.push(key, (await readObject(twin.s3Client, twin.s3.bucket, key)).toString('utf8'));
    else s3Text.push(key);
  }
  const places: Record<string, string> = {
    'execution history (every state input and output)': safeStringify(events),
    'run results and Fail causes': safeStringify(results),
    'stdout/stderr/console (and --json)': captured.join('\n'),
    'handler log file': logFile,
    'S3 keys, manifests and JSON/CSV objects': s3Text.join('\n'),
  };
  const leaks: string[] = [];
  for (const [what, values] of Object.entries(secretValues())) {
    for (const value of values) {
      for (const [where, text] of Object.entries(places)) {
        if (value.length >= 8 && text.includes(value)) leaks.push(`${what} (${value.slice(0, 6)}…) in ${where}`);
      }
    }
  }
  expect(leaks).toEqual([]);
}

function safeStringify(value: unknown): string {
  const seen = new WeakSet();
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'object' && item !== null) {
      if (seen.has(item)) return '[circular]';
      seen.add(item);
    }
    if (typeof item === 'bigint') return String(item);
    if (Buffer.isBuffer(item)) return item.toString('utf8');
    return item;
  });
}

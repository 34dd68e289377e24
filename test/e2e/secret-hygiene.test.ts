import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpClient } from '../../functions/common/http.js';
import { listFolder } from '../../functions/common/manifest.js';
import { cleanupReports } from '../../functions/mft/housekeeping.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import type { ExecutionEvent, LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { readObject } from '../support/stored-events.js';

/**
 * Secret hygiene (issue 6, part 4): both sources run on the twin — with faults, so error paths write their
 * causes into state too — while every state input and output of the local engine, every console call, all
 * stdout/stderr, the handlers' log file and every object in S3 are captured. None of them may hold an MFT
 * access token, a line of the MFT private key, the Xray access token or password (or their Basic header),
 * or the signature of a presigned download link. And the MFT bearer token only ever goes to the API host.
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
const issuedTokens: string[] = [];
const signatures: string[] = [];

/** fetch that records where each request went, with which Authorization, and what the token endpoint issued. */
const recordingFetch = (async (input: string | URL | Request, init?: RequestInit) => {
  const url = new URL(String(input instanceof Request ? input.url : input));
  const headers = new Headers(init?.headers);
  const request: SentRequest = { url };
  const authorization = headers.get('authorization');
  if (authorization) request.authorization = authorization;
  sent.push(request);
  const signature = url.searchParams.get('signature');
  if (signature) signatures.push(signature);
  const response = await fetch(input, init);
  if (url.pathname.endsWith('/oauth/token') && response.ok) {
    const text = await response.clone().text().catch(() => '');
    const token = /"access_token"\s*:\s*"([^"]+)"/.exec(text)?.[1];
    if (token) issuedTokens.push(token);
  }
  if (response.ok && url.pathname.startsWith('/v1/reports')) {
    const text = await response.clone().text().catch(() => '');
    for (const match of text.matchAll(/signature=([0-9a-f]+)/g)) signatures.push(match[1]!);
  }
  return response;
}) as typeof fetch;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'secrets-'));
  twin = await startTwin({ directory, mft: { reportReadyAfterMs: 0, eventsPerHour: 60 }, xray: { events: 3_000 } });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

describe('secret hygiene on the twin', () => {
  it('no token, key, password or presigned signature in state, logs, console output or S3', async () => {
    const captured: string[] = [];
    const keep = (...parts: unknown[]) => captured.push(parts.map((part) => (typeof part === 'string' ? part : safeStringify(part))).join(' '));
    const writes = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown) => (keep(String(chunk)), true)) as never),
    );
    const consoles = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void keep(...args)),
    );
    const events: ExecutionEvent[] = [];
    const results: LocalRunResult[] = [];
    try {
      const http = () => new HttpClient({ fetch: recordingFetch, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
      const mftRuntime = twin.mftRuntime({ http: http(), initialLookbackHours: 3, pollIntervalSeconds: 1 });
      const options = { waitMs: 10, retryMs: 5, logger: twin.logger, onEvent: (event: ExecutionEvent) => events.push(event) };

      // Error paths too: a 503 with an HTML page, a reset, a truncated download, expired tokens, a failed report.
      twin.mft.faults.add({ match: { server: 'api', method: 'POST' }, fault: { kind: 'status', status: 503, body: 'html' }, times: 1 });
      twin.mft.faults.add({ match: { server: 'storage' }, fault: { kind: 'truncate', afterBytes: 10 }, times: 1 });
      twin.mft.faults.add({ fault: { kind: 'expire-tokens' }, after: 4, times: 1 });
      twin.mft.failNextReports(1, 'failed');
      results.push(await runMftExport(mftRuntime, { ...options, input: {} }));
      twin.mft.faults.clear();
      results.push(await runMftExport(mftRuntime, { ...options, input: { type: 'csv' } }));
      await cleanupReports(mftRuntime, await mftRuntime.auth.issue(), { olderThanMs: 0, dryRun: true });

      twin.xray!.faults.add({ fault: { kind: 'status', status: 502, body: 'html' }, times: 2 });
      const xrayToken = twin.xray!.admin.accessToken;
      results.push(await runXrayExport(twin.xrayRuntime({ http: http(), initialLookbackHours: 6 }), { ...options, input: {} }));
      const basic = { username: twin.xray!.admin.username, password: twin.xray!.admin.password };
      results.push(
        await runXrayExport(twin.xrayRuntime({ http: http(), credentials: basic, initialLookbackHours: 6, prefix: 'basic/' }), { ...options, input: { format: 'csv' } }),
      );
      // A run that fails for good (wrong password): its error is in state and in the logs.
      const wrong = { username: basic.username, password: `${basic.password}-wrong` };
      results.push(await runXrayExport(twin.xrayRuntime({ http: http(), credentials: wrong, prefix: 'wrong/' }), { ...options, input: {} }));
      expect(results.map((result) => result.status)).toEqual(['FAILED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'FAILED']);
      expect(xrayToken).toBeTruthy();
    } finally {
      writes.forEach((spy) => spy.mockRestore());
      consoles.forEach((spy) => spy.mockRestore());
    }

    // What the secrets are.
    const admin = twin.xray!.admin;
    const keyLines = twin.mft.privateKeyPem.split('\n').filter((line) => line && !line.startsWith('-----'));
    const secrets: Record<string, string[]> = {
      'MFT access token': [...new Set(issuedTokens)],
      'MFT private key line': keyLines,
      'Xray access token': [admin.accessToken],
      'Xray password': [admin.password, `${admin.password}-wrong`],
      'Xray Basic credentials': [Buffer.from(`${admin.username}:${admin.password}`).toString('base64')],
      'presigned signature': [...new Set(signatures)],
    };
    expect(secrets['MFT access token']!.length).toBeGreaterThan(1); // re-issued after the expiry
    expect(secrets['presigned signature']!.length).toBeGreaterThan(0);
    expect(keyLines.length).toBeGreaterThan(1);

    // Where they must not be.
    const logFile = await readFile(twin.logFile, 'utf8');
    expect(logFile.length).toBeGreaterThan(0);
    const s3Text: string[] = [];
    for (const key of await listFolder(twin.s3Client, twin.s3.bucket, '')) {
      if (key.endsWith('.json') || key.endsWith('.csv')) s3Text.push(key, (await readObject(twin.s3Client, twin.s3.bucket, key)).toString('utf8'));
      else s3Text.push(key);
    }
    const places: Record<string, string> = {
      'execution events (every state input and output)': safeStringify(events),
      'run results': safeStringify(results),
      'stdout/stderr/console': captured.join('\n'),
      'handler log file': logFile,
      'S3 keys, manifests and JSON/CSV objects': s3Text.join('\n'),
    };
    expect(places['execution events (every state input and output)']!.length).toBeGreaterThan(10_000);
    const leaks: string[] = [];
    for (const [what, values] of Object.entries(secrets)) {
      for (const value of values) {
        for (const [where, text] of Object.entries(places)) {
          if (value.length >= 8 && text.includes(value)) leaks.push(`${what} (${value.slice(0, 6)}…) in ${where}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  }, 60_000);

  it('sends the MFT bearer token only to the API host, and the Xray credentials only to Xray', () => {
    const apiOrigin = new URL(twin.mft.baseUrl).origin;
    const storageOrigin = new URL(twin.mft.downloadBaseUrl).origin;
    const xrayOrigin = new URL(twin.xray!.baseUrl).origin;
    const downloads = sent.filter((request) => request.url.origin === storageOrigin);
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.filter((request) => request.authorization)).toEqual([]);
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

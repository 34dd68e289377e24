import { describe, expect, it } from 'vitest';
import { TransientError } from '../../functions/common/errors.js';
import { HttpClient, describeUrl, parseRetryAfter, readJson } from '../../functions/common/http.js';

function scripted(answers: (Response | Error)[]) {
  const calls: string[] = [];
  const fetch = (async (input: string | URL | Request) => {
    calls.push(String(input));
    const next = answers.shift();
    if (!next) throw new Error('no more scripted answers');
    if (next instanceof Error) throw next;
    return next;
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

function clockAndSleep() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    clock: { now: () => now },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    sleeps,
  };
}

describe('HttpClient', () => {
  it('retries 429 and 5xx with backoff, honouring Retry-After', async () => {
    const { fetch, calls } = scripted([
      new Response('slow down', { status: 429, headers: { 'retry-after': '3' } }),
      new Response('oops', { status: 503 }),
      new Response('{"ok":true}', { status: 200 }),
    ]);
    const time = clockAndSleep();
    const http = new HttpClient({ fetch, ...time, random: () => 0.5, retry: { baseDelayMs: 100 } });
    const response = await http.request({ url: 'https://api.example.test/x' });
    expect(response.status).toBe(200);
    expect(calls).toHaveLength(3);
    expect(time.sleeps[0]).toBe(3000); // Retry-After wins over the smaller backoff
    expect(time.sleeps[1]).toBe(100); // half of the 200 ms second backoff step (full jitter)
    expect(http.retries).toBe(2);
  });

  it('returns non-retryable answers to the caller untouched', async () => {
    const { fetch, calls } = scripted([new Response('nope', { status: 404 })]);
    const response = await new HttpClient({ fetch, ...clockAndSleep() }).request({ url: 'https://a.test/' });
    expect(response.status).toBe(404);
    expect(calls).toHaveLength(1);
  });

  it('gives up after the attempt budget with a TransientError that hides the query string', async () => {
    const { fetch } = scripted(Array.from({ length: 5 }, () => new Error('ECONNRESET')));
    const http = new HttpClient({ fetch, ...clockAndSleep(), retry: { maxAttempts: 3 } });
    const failure = http.request({ url: 'https://storage.test/file?signature=SECRET123' });
    await expect(failure).rejects.toBeInstanceOf(TransientError);
    await expect(failure).rejects.toThrow(/GET https:\/\/storage\.test\/file failed: ECONNRESET \(3 attempts/);
    await failure.catch((error: Error) => expect(error.message).not.toContain('SECRET123'));
  });

  it('stops retrying once the total time budget would be exceeded', async () => {
    const { fetch, calls } = scripted(Array.from({ length: 10 }, () => new Response('', { status: 500 })));
    const time = clockAndSleep();
    const http = new HttpClient({ fetch, ...time, random: () => 1, retry: { maxAttempts: 10, baseDelayMs: 1000, maxElapsedMs: 5000 } });
    await expect(http.request({ url: 'https://a.test/' })).rejects.toBeInstanceOf(TransientError);
    expect(calls.length).toBe(3); // waits 1 s, 2 s; the next 4 s pause would pass 5 s
  });

  it('times out an attempt that gets no response headers', async () => {
    const hanging = ((_: unknown, init?: RequestInit) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as typeof fetch;
    const http = new HttpClient({ fetch: hanging, timeoutMs: 20, retry: { maxAttempts: 2, baseDelayMs: 1 } });
    await expect(http.request({ url: 'https://a.test/' })).rejects.toThrow(/no response within 20 ms \(2 attempts/);
  });
});

describe('helpers', () => {
  it('parses Retry-After as seconds or as a date', () => {
    expect(parseRetryAfter('2', 0)).toBe(2000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 4000)).toBe(6000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
  });

  it('describes URLs without their query string', () => {
    expect(describeUrl('https://h.test/a/b?x-amz-signature=abc')).toBe('https://h.test/a/b');
    expect(describeUrl('not a url')).toBe('<invalid url>');
  });

  it('turns an HTML error page into a clear error', async () => {
    await expect(readJson(new Response('<html>502 Bad Gateway</html>', { status: 200 }), 'MFT report')).rejects.toThrow(
      /MFT report: expected JSON but got an HTML page/,
    );
  });
});

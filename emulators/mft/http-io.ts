import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** Small node:http helpers shared by the API and storage listeners. */

export const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLargeError extends Error {
  constructor() {
    super(`request body exceeds ${MAX_BODY_BYTES} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers);
  res.end();
}

/** Splits a request target into its raw path and query; the query may hold a signature, so logs get the path only. */
export function splitTarget(req: IncomingMessage): { path: string; query: URLSearchParams } {
  const target = req.url ?? '/';
  const mark = target.indexOf('?');
  return mark < 0
    ? { path: target, query: new URLSearchParams() }
    : { path: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

/** Decodes one path segment, or undefined when it is malformed or would span segments. */
export function decodeSegment(raw: string): string | undefined {
  if (raw === '' || raw.includes('/')) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Writes chunks with backpressure: after a refused write it waits for 'drain' (or the client leaving),
 * so a multi-gigabyte file costs a chunk or two of memory. Stops generating once the client is gone.
 */
export async function streamChunks(res: ServerResponse, chunks: Iterable<Buffer>): Promise<'finished' | 'aborted'> {
  let writesSinceYield = 0;
  for (const chunk of chunks) {
    if (res.destroyed) return 'aborted';
    if (!res.write(chunk)) {
      await drainOrClose(res);
      writesSinceYield = 0;
    } else if (++writesSinceYield >= 16) {
      // A fast reader never refuses a write; still let other requests in now and then.
      writesSinceYield = 0;
      await yieldToEventLoop();
    }
  }
  if (res.destroyed) return 'aborted';
  res.end();
  return 'finished';
}

function drainOrClose(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

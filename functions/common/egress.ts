import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { AuditExportError } from './errors.js';

/**
 * Where a download may connect. A presigned link comes from the vendor's answer, not from our configuration:
 * whoever controls that answer (or a redirect from the storage) must not make the exporter fetch the instance
 * metadata service, a loopback service of the Lambda, or a private address inside the VPC, and store the
 * answer as a report. The rules are checked on the address a connection is actually opened to — after DNS, in
 * the socket's own lookup, so a name cannot resolve differently between check and use — with IPv4-mapped and
 * IPv4-embedding IPv6 forms read as the IPv4 address they carry.
 *
 * - link-local (169.254.0.0/16, fe80::/10), the AWS metadata address fd00:ec2::/32, "this network", multicast
 *   and reserved ranges: never;
 * - loopback (127.0.0.0/8, ::1): only when `allowLoopback` (the local twin, local emulators);
 * - private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): only when `allowPrivate` (storage
 *   reached through a VPC interface endpoint).
 */
export interface AddressRules {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

export const STRICT_ADDRESS_RULES: AddressRules = { allowLoopback: false, allowPrivate: false };

/** A download refused by the egress rules: a result of the vendor's answer, so not worth a retry. */
export class DownloadRefusedError extends AuditExportError {
  static override readonly errorName: string = 'DownloadRefusedError';
}

export type AddressKind = 'public' | 'loopback' | 'private' | 'link-local' | 'reserved';

const NEVER = new BlockList();
const LOOPBACK = new BlockList();
const PRIVATE = new BlockList();
const LINK_LOCAL = new BlockList();
for (const [list, ranges] of [
  [LINK_LOCAL, [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6'], ['fd00:ec2::', 32, 'ipv6']]],
  [LOOPBACK, [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]],
  [PRIVATE, [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['fc00::', 7, 'ipv6']]],
  [
    NEVER,
    [
      ['0.0.0.0', 8, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['198.18.0.0', 15, 'ipv4'], ['224.0.0.0', 3, 'ipv4'],
      ['::', 128, 'ipv6'], ['ff00::', 8, 'ipv6'], ['2001:db8::', 32, 'ipv6'],
    ],
  ],
] as const) {
  for (const [network, prefix, type] of ranges) list.addSubnet(network, prefix, type);
}

/** The 16 bytes of an IPv6 address (valid input only). */
function ipv6Bytes(address: string): number[] {
  let text = address.split('%')[0]!.toLowerCase();
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    tail.push(...dotted[1]!.split('.').map(Number));
    text = text.slice(0, -dotted[1]!.length);
    text = text.endsWith('::') ? text : text.replace(/:$/, '');
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').filter((group) => group !== '') : []);
  const left = groups(head);
  const right = groups(rest);
  const missing = 8 - tail.length / 2 - left.length - right.length;
  const all = [...left, ...Array(rest === undefined ? 0 : missing).fill('0'), ...right];
  const bytes: number[] = [];
  for (const group of all) {
    const value = parseInt(group, 16);
    bytes.push(value >> 8, value & 0xff);
  }
  return [...bytes, ...tail];
}

/**
 * The address a connection really goes to: an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) or
 * NAT64 (64:ff9b::a.b.c.d) IPv6 address is the IPv4 address it embeds. Zone ids are dropped.
 */
export function normalizeAddress(address: string): { address: string; family: 4 | 6 } | undefined {
  const plain = address.replace(/^\[|\]$/g, '');
  const family = isIP(plain.split('%')[0]!);
  if (family === 4) return { address: plain, family: 4 };
  if (family !== 6) return undefined;
  const bytes = ipv6Bytes(plain);
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  const embedded = bytes.slice(12).join('.');
  const mapped = zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff;
  const compatible = zeros(0, 12) && !zeros(12, 16) && !(zeros(12, 15) && bytes[15] === 1);
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12);
  if (mapped || compatible || nat64) return { address: embedded, family: 4 };
  const groups: string[] = [];
  for (let at = 0; at < 16; at += 2) groups.push(((bytes[at]! << 8) | bytes[at + 1]!).toString(16));
  return { address: groups.join(':'), family: 6 };
}

export function classifyAddress(address: string): AddressKind {
  const normalized = normalizeAddress(address);
  if (!normalized) return 'reserved';
  const type = normalized.family === 4 ? 'ipv4' : 'ipv6';
  if (LINK_LOCAL.check(normalized.address, type)) return 'link-local';
  if (NEVER.check(normalized.address, type)) return 'reserved';
  if (LOOPBACK.check(normalized.address, type)) return 'loopback';
  if (PRIVATE.check(normalized.address, type)) return 'private';
  return 'public';
}

/** Why a connection to `address` is refused under `rules`, or undefined when it is allowed. */
export function addressProblem(address: string, rules: AddressRules): string | undefined {
  const kind = classifyAddress(address);
  switch (kind) {
    case 'public':
      return undefined;
    case 'loopback':
      return rules.allowLoopback ? undefined : 'a loopback address';
    case 'private':
      return rules.allowPrivate ? undefined : 'a private address (allow it only for storage reached through a VPC endpoint)';
    case 'link-local':
      return 'a link-local address (e.g. the instance metadata service)';
    default:
      return 'a reserved, multicast or unspecified address';
  }
}

export type Resolver = (hostname: string, options: LookupOptions & { all: true }, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * A socket lookup that resolves as usual and refuses the name when any of its addresses is forbidden (a
 * name that resolves to the metadata address next to a public one is no storage host).
 */
export function guardedLookup(rules: AddressRules, resolve: Resolver = dnsLookup as unknown as Resolver): LookupFunction {
  return ((hostname: string, options: LookupOptions, callback: (...args: any[]) => void) => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error);
      for (const entry of addresses) {
        const problem = addressProblem(entry.address, rules);
        if (problem) {
          return callback(new DownloadRefusedError(`${hostname} resolves to ${entry.address}, ${problem}: the download was refused`));
        }
      }
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}

/** Checks a URL's host before any connection: an IP literal never goes through a lookup. */
export function checkHost(url: URL, rules: AddressRules): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host.split('%')[0]!) === 0) return;
  const problem = addressProblem(host, rules);
  if (problem) throw new DownloadRefusedError(`${url.protocol}//${url.host} is ${problem}: the download was refused`);
}

/** A guardedFetch body: a Node stream, read either as the Response's web stream or (taken) as itself. */
interface NodeBody {
  stream: Readable;
  readAs?: 'web' | 'node';
  /** Keeps an error of the connection before either reads it on the stream (`errored`) instead of throwing it. */
  keep: () => void;
}

const nodeBodies = new WeakMap<Response, NodeBody>();

/**
 * The body of a guardedFetch response as the Node stream it is, for a caller that streams it on with Node
 * streams (a report copy): the web stream a Response must carry and the Node stream made back from it cost two
 * adapters per chunk. Undefined for any other response, or once its web body is being read; once taken, the
 * response's own body fails when read.
 */
export function takeNodeBody(response: Response): Readable | undefined {
  const body = nodeBodies.get(response);
  if (!body || body.readAs) return undefined;
  body.readAs = 'node';
  body.stream.off('error', body.keep);
  return body.stream;
}

/** A web stream over the body that adapts it only once it is read (highWaterMark 0: nothing is pulled before). */
function lazyWebBody(body: NodeBody): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!reader) {
          if (body.readAs === 'node') return controller.error(new TypeError('the body is read as a Node stream'));
          body.readAs = 'web';
          body.stream.off('error', body.keep);
          reader = (Readable.toWeb(body.stream) as unknown as ReadableStream<Uint8Array>).getReader();
        }
        const next = await reader.read();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel(reason) {
        if (reader) return reader.cancel(reason);
        if (!body.readAs) body.stream.destroy();
        return undefined;
      },
    },
    { highWaterMark: 0 },
  );
}

export interface GuardedFetchOptions {
  rules: AddressRules;
  /** DNS, replaceable in tests (a name that resolves to the metadata address). */
  resolve?: Resolver;
}

/**
 * A `fetch` for downloads whose connections obey `rules`, on node:http(s) (the built-in fetch has no hook
 * on the address it connects to). It behaves as fetch does where a download relies on it: redirects are not
 * followed (the caller decides, hop by hop), gzip/deflate/br bodies are decoded, errors reject the promise,
 * the signal aborts the request; a URL with user-info is refused, as fetch refuses it.
 */
export function guardedFetch(options: GuardedFetchOptions): typeof fetch {
  const lookup = guardedLookup(options.rules, options.resolve);
  const agents = {
    'http:': new http.Agent({ keepAlive: true, lookup }),
    'https:': new https.Agent({ keepAlive: true, lookup }),
  };
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DownloadRefusedError(`unsupported scheme ${url.protocol}`);
    if (url.username || url.password) throw new DownloadRefusedError('the URL carries user-info (a name or password before the host): refused');
    checkHost(url, options.rules);
    const headers: Record<string, string> = { 'accept-encoding': 'gzip, deflate, br' };
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    const method = (init.method ?? 'GET').toUpperCase();
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolve, reject) => {
      const request = client.request(
        url,
        { method, headers, agent: agents[url.protocol as 'http:' | 'https:'], signal: init.signal ?? undefined },
        (incoming) => {
          const responseHeaders = new Headers();
          for (let at = 0; at < incoming.rawHeaders.length; at += 2) {
            try {
              responseHeaders.append(incoming.rawHeaders[at]!, incoming.rawHeaders[at + 1]!);
            } catch {
              // a header fetch would refuse too: dropped
            }
          }
          const status = incoming.statusCode ?? 0;
          const noBody = method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
          if (status < 200 || status > 599) {
            incoming.destroy();
            return reject(new Error(`unexpected HTTP status ${status}`));
          }
          let body: Readable = incoming;
          const encoding = (incoming.headers['content-encoding'] ?? '').trim().toLowerCase();
          const decoder =
            encoding === 'gzip' || encoding === 'x-gzip'
              ? zlib.createGunzip()
              : encoding === 'deflate'
                ? zlib.createInflate()
                : encoding === 'br'
                  ? zlib.createBrotliDecompress()
                  : undefined;
          if (decoder && !noBody) {
            incoming.on('error', (error) => decoder.destroy(error));
            body = incoming.pipe(decoder);
          }
          if (noBody) incoming.resume();
          const handle: NodeBody = { stream: body, keep: () => undefined };
          if (!noBody) body.once('error', handle.keep);
          const response = new Response(noBody ? null : lazyWebBody(handle), { status, statusText: incoming.statusMessage ?? '', headers: responseHeaders });
          if (!noBody) nodeBodies.set(response, handle);
          resolve(response);
        },
      );
      request.on('error', reject);
      if (typeof init.body === 'string') request.end(init.body);
      else request.end();
    });
  }) as typeof fetch;
}

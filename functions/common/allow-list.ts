/**
 * Vendors that allow-list source addresses (an MFT API key's "IP Access", a JFrog Platform's IP/CIDR allowlist)
 * refuse a request from any other address with 401 or 403, which otherwise reads as "bad key or clock". Neither
 * vendor documents the wording, so this recognizes the usual phrasings of an address-based refusal, in JSON or
 * in an HTML page, and says where the exporter's addresses must be entered.
 */

/** The stack output listing the exporter's egress addresses (infra/audit-export-stack.ts). */
export const EGRESS_IPS_OUTPUT = 'EgressIpAddresses';

export type AllowListVendor = 'mft' | 'xray';

/** Where each vendor keeps its allow-list (README, "Fixed egress addresses"). */
export const ALLOW_LISTS: Record<AllowListVendor, { vendor: string; where: string }> = {
  mft: {
    vendor: 'Progress Automate MFT',
    where: "the API key's IP allow-list (Automate MFT: System > API Keys > the key > IP Access, or System > Tenant settings when the key uses the tenant's list)",
  },
  xray: {
    vendor: 'JFrog',
    where: "the JFrog Platform's IP/CIDR allowlist (MyJFrog, for the server of the platform URL)",
  },
};

/** Error bodies are small; never read more than this of one. */
const MAX_BODY_BYTES = 16 * 1024;

const REFUSAL = String.raw`(?:not (?:allowed|permitted|authori[sz]ed|whitelisted|allowlisted)|denied|blocked|forbidden|refused|rejected|restricted)`;
const ADDRESS = String.raw`(?:ip(?:v[46])?(?: address)?|source address|client address|remote address|\d{1,3}(?:\.\d{1,3}){3})`;

/** Phrasings of "your address is not allowed", as APIs and gateways word it. */
const SOURCE_ADDRESS_WORDING: readonly RegExp[] = [
  // "not on the IP allow-list", "allowlist", "whitelist", "white list", "IP whitelisted"
  /\b(?:allow|white|permit)[- ]?list(?:ed|ing)?\b/i,
  // "IP address 203.0.113.7 is not allowed", "IP blocked", "IPv4 access denied"
  new RegExp(String.raw`\b${ADDRESS}\b.{0,60}?\b${REFUSAL}`, 'i'),
  // "access denied for IP 203.0.113.7", "forbidden: client address"
  new RegExp(String.raw`\b${REFUSAL}\b.{0,40}?\b(?:for|from|to)\b.{0,20}?\b${ADDRESS}\b`, 'i'),
  // "source IP", "client IP", "remote address", "originating IP"
  /\b(?:source|client|remote|originating|caller(?:'s)?) (?:ip|address)\b/i,
  // an "IP Access" / "IP restriction" / "IP filter" setting
  /\bip (?:access|restriction|filter(?:ing)?|range)s?\b/i,
  // Progress MOVEit's "not allowed to sign on from this location"
  /\bfrom this (?:location|address|network)\b/i,
];

/** Whether a refusal's text says that the request's source address is not allowed. */
export function isSourceAddressRefusal(text: string): boolean {
  const plain = plainText(text);
  return SOURCE_ADDRESS_WORDING.some((pattern) => pattern.test(plain));
}

/** The message for a request refused because of its source address. */
export function allowListMessage(vendor: AllowListVendor, request: string, status: number, words: string): string {
  const { vendor: name, where } = ALLOW_LISTS[vendor];
  return (
    `${name} refused ${request} because of the address it came from (HTTP ${status}: ${words}). ` +
    `Add the exporter's egress IP addresses (the stack output ${EGRESS_IPS_OUTPUT}) to ${where}; ` +
    'a deployment without the network setting has no fixed addresses (README, "Fixed egress addresses")'
  );
}

/**
 * For a 401 or 403 whose body says the source address is not allowed: the message to throw. Undefined for any
 * other answer. Reads a copy of at most 16 KiB of the body, so the caller can still read the response itself.
 */
export async function allowListRefusal(vendor: AllowListVendor, response: Response, request: string): Promise<string | undefined> {
  if (response.status !== 401 && response.status !== 403) return undefined;
  const text = await readPrefix(response.clone(), MAX_BODY_BYTES);
  if (!isSourceAddressRefusal(text)) return undefined;
  return allowListMessage(vendor, request, response.status, vendorWords(text));
}

/** The vendor's own sentence: a JSON error field, or the page's text, shortened. */
function vendorWords(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown> & { errors?: { message?: unknown }[] };
    const message = body.error_description ?? body.message ?? body.errors?.[0]?.message ?? body.detail ?? body.error ?? body.title;
    if (typeof message === 'string' && message.trim()) return shorten(message);
  } catch {
    // not JSON
  }
  return shorten(plainText(text)) || 'no details';
}

/** Tags (one cut off by the read limit too), scripts and styles removed, a few entities decoded, white space collapsed. */
function plainText(text: string): string {
  return text
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*(>|$)/g, ' ')
    .replace(/&(nbsp|amp|lt|gt|quot|#39);/g, (_, entity: string) => ({ nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[entity]!)
    .replace(/\s+/g, ' ')
    .trim();
}

function shorten(text: string): string {
  const single = text.replace(/\s+/g, ' ').trim();
  return single.length > 200 ? `${single.slice(0, 200)}…` : single;
}

async function readPrefix(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } catch {
    // a body cut short: judge what arrived
  } finally {
    // Not awaited: cancelling one branch of a cloned body settles only once the caller is done with the other.
    reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

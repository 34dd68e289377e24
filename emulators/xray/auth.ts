/**
 * Who is calling: HTTP Basic (user + password, or user + access token as JFrog also accepts) or
 * `Authorization: Bearer <access token>`. Credentials are compared here and never stored elsewhere.
 */

export type Permission = 'VIEW_POLICIES';

export interface EmulatorUser {
  username: string;
  password: string;
  accessToken: string;
  permissions: ReadonlySet<Permission>;
}

export type AuthScheme = 'basic' | 'bearer' | 'none';

export interface AuthResult {
  scheme: AuthScheme;
  /** Undefined when the header is missing, malformed or names no known user. */
  user?: EmulatorUser;
}

export function authenticate(header: string | undefined, users: readonly EmulatorUser[]): AuthResult {
  if (!header) return { scheme: 'none' };
  const [scheme = '', credentials = ''] = header.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') {
    return { scheme: 'bearer', user: users.find((user) => user.accessToken === credentials) };
  }
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { scheme: 'basic' };
    const username = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const user = users.find((u) => u.username === username && (u.password === secret || u.accessToken === secret));
    return { scheme: 'basic', user };
  }
  return { scheme: 'none' };
}

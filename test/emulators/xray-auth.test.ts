import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type XrayCredentials, type XrayEmulator } from '../../emulators/xray/index.js';

const PATH = '/xray/api/v1/curation/audit/packages';

function basic(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
}

describe('xray emulator: authentication and permission', () => {
  let emulator: XrayEmulator;
  let admin: XrayCredentials;

  async function call(authorization?: string, path = `${PATH}?num_of_rows=1`) {
    const response = await fetch(emulator.baseUrl + path, { headers: authorization ? { authorization } : {} });
    return { status: response.status, body: (await response.json()) as any };
  }

  beforeAll(async () => {
    emulator = await startXrayEmulator({ events: 1000 });
    admin = emulator.admin;
  });
  afterAll(() => emulator.close());

  it('accepts HTTP Basic user + password', async () => {
    const { status, body } = await call(basic(admin.username, admin.password));
    expect(status).toBe(200);
    expect(body.meta.result_count).toBe(1);
  });

  it('accepts a Bearer access token, and the token as a Basic password', async () => {
    expect((await call(`Bearer ${admin.accessToken}`)).status).toBe(200);
    expect((await call(basic(admin.username, admin.accessToken))).status).toBe(200);
  });

  it.each([
    ['no header', undefined],
    ['wrong password', basic('admin', 'wrong')],
    ['unknown user', basic('nobody', 'x')],
    ['unknown token', 'Bearer not-a-token'],
    ['unsupported scheme', 'Digest abc'],
    ['basic without colon', `Basic ${Buffer.from('admin').toString('base64')}`],
  ])('401 in JFrog error style: %s', async (_, authorization) => {
    const { status, body } = await call(authorization);
    expect(status).toBe(401);
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].status).toBe(401);
    expect(body.errors[0].message).toMatch(/Unauthorized/);
  });

  it('403 for a valid user without VIEW_POLICIES, by Basic or Bearer', async () => {
    const user = emulator.noPermission;
    for (const authorization of [basic(user.username, user.password), `Bearer ${user.accessToken}`]) {
      const { status, body } = await call(authorization);
      expect(status).toBe(403);
      expect(body.errors[0]).toMatchObject({ status: 403 });
      expect(body.errors[0].message).toContain('VIEW_POLICIES');
    }
  });

  it('404 for other paths, 405 for other methods', async () => {
    expect((await call(`Bearer ${admin.accessToken}`, '/xray/api/v1/curation/audit/other')).status).toBe(404);
    const response = await fetch(emulator.baseUrl + PATH, { method: 'POST', headers: { authorization: `Bearer ${admin.accessToken}` } });
    expect(response.status).toBe(405);
  });

  it('logs requests with their auth scheme and status, never the credentials', async () => {
    const log = emulator.requestLog;
    expect(log.some((entry) => entry.authorization === 'basic' && entry.status === 200)).toBe(true);
    expect(log.some((entry) => entry.authorization === 'bearer' && entry.status === 403)).toBe(true);
    expect(log.some((entry) => entry.authorization === 'none' && entry.status === 401)).toBe(true);
    const text = JSON.stringify(log);
    for (const secret of [admin.password, admin.accessToken, emulator.noPermission.password, emulator.noPermission.accessToken]) {
      expect(text).not.toContain(secret);
    }
    expect(log[0]).toMatchObject({ method: 'GET', path: PATH, query: 'num_of_rows=1' });
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type AuditEvent, type XrayEmulator } from '../../emulators/xray/index.js';

const NOW = Date.parse('2024-02-01T00:00:00Z');
/** The native CSV header as a public client that matches it lists it (specs, "Facts from JFrog's other public pages"). */
const HEADER = 'id,created_at,action,reason,package_type,package_name,package_version,package_url,'
  + 'curated_repo_server_name,curated_repo_name,curated_repo_project_key,user_name,user_mail,'
  + 'origin_repo_server_name,origin_repo_name,origin_repo_project_key,public_repo_name,public_repo_url,'
  + 'ecosystem,ondemand,policy_id,policy_name,condition_name,condition_category,dry_run,result,policy_reason';

function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Minimal RFC 4180 reader, independent of the emulator's writer. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let k = 0; k < text.length; k++) {
    const char = text[k]!;
    if (quoted) {
      if (char === '"' && text[k + 1] === '"') { field += '"'; k++; }
      else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') { row.push(field); field = ''; }
    else if (char === '\r' && text[k + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; k++; }
    else field += char;
  }
  if (field || row.length) throw new Error('CSV does not end with CRLF');
  return rows;
}

describe('xray emulator: format=csv (a zip holding one CSV file)', () => {
  let emulator: XrayEmulator;
  let directory: string;
  const window = { created_at_start: '2024-01-10T00:00:00Z', created_at_end: '2024-01-12T00:00:00Z' };

  async function fetchBody(params: Record<string, string | number>, target = emulator) {
    const url = new URL('/xray/api/v1/curation/audit/packages', target.baseUrl);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
    const response = await fetch(url, { headers: { authorization: `Bearer ${target.admin.accessToken}` } });
    expect(response.status).toBe(200);
    return response;
  }

  /** Saves the zip and reads it back with python3's zipfile: [file names, content of the only file]. */
  async function fetchZip(params: Record<string, string | number>, target = emulator): Promise<{ names: string[]; csv: string; path: string }> {
    const response = await fetchBody({ ...params, format: 'csv' }, target);
    expect(response.headers.get('content-type')).toBe('application/zip');
    const path = join(directory, `page-${Math.random().toString(36).slice(2)}.zip`);
    writeFileSync(path, Buffer.from(await response.arrayBuffer()));
    const script = 'import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n'
      + 'names = z.namelist()\nsys.stdout.write(json.dumps({"names": names, "csv": z.read(names[0]).decode("utf-8")}))';
    const result = JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8', maxBuffer: 64 << 20 }));
    return { ...result, path };
  }

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'xray-csv-'));
    emulator = await startXrayEmulator({ events: 20_000, seed: 11, datasetEnd: '2024-02-01T00:00:00Z', now: () => NOW });
  });
  afterAll(async () => {
    await emulator.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('holds exactly audit_packages.csv, one row per (event, policy), RFC 4180', async () => {
    const params = { ...window, direction: 'asc', num_of_rows: 500, offset: 100 };
    const { names, csv } = await fetchZip(params);
    expect(names).toEqual(['audit_packages.csv']);
    const json = (await (await fetchBody(params)).json()) as { data: AuditEvent[] };
    const rows = parseCsv(csv);
    expect(rows[0]!.join(',')).toBe(HEADER);
    const body = rows.slice(1);
    // One row per policy; an event without policies (null) gets one row with empty policy columns.
    const rowCount = json.data.reduce((sum, event) => sum + Math.max(1, event.policies?.length ?? 0), 0);
    expect(body).toHaveLength(rowCount);
    expect(body.length).toBeGreaterThan(500); // more rows than num_of_rows: paging counts events
    expect(new Set(body.map((row) => Number(row[0])))).toEqual(new Set(json.data.map((event) => event.id)));
    const expected = json.data.flatMap((event) => {
      const eventColumns = [
        String(event.id), event.created_at, event.action, event.reason, event.package_type, event.package_name, event.package_version,
        event.package_url, event.curated_repository_server_name, event.curated_repository_name, event.curated_project,
        event.username, event.user_mail, event.origin_repository_server_name, event.origin_repository_name, event.origin_project,
        event.public_repo_name, event.public_repo_url, event.ecosystem, String(event.ondemand),
      ];
      if (!event.policies?.length) return [[...eventColumns, '', '', '', '', '', '', '']];
      return event.policies.map((policy) => [
        ...eventColumns,
        String(policy.policy_id), policy.policy_name, policy.condition_name, policy.condition_category, String(policy.dry_run), policy.result, policy.policy_reason,
      ]);
    });
    expect(body).toEqual(expected);
    expect(json.data.some((event) => event.policies === null)).toBe(true);
    expect(csv).toMatch(/"Package is unmaintained, no release in 3 years"|"Package license is copyleft, e.g. ""GPL-3.0"""/);
  });

  it.runIf(hasCommand('unzip'))('opens with the system unzip', async () => {
    const { path, csv } = await fetchZip({ ...window, num_of_rows: 2000 });
    execFileSync('unzip', ['-tq', path]);
    expect(execFileSync('unzip', ['-Z1', path], { encoding: 'utf8' }).trim()).toBe('audit_packages.csv');
    expect(execFileSync('unzip', ['-p', path, 'audit_packages.csv'], { encoding: 'utf8', maxBuffer: 64 << 20 })).toBe(csv);
  });

  it('pages by offset until a page holds fewer than num_of_rows events', async () => {
    const seen: number[] = [];
    for (let offset = 0; ; offset += 400) {
      const { csv } = await fetchZip({ ...window, direction: 'asc', num_of_rows: 400, offset });
      const pageIds = [...new Set(parseCsv(csv).slice(1).map((row) => Number(row[0])))];
      seen.push(...pageIds);
      if (pageIds.length < 400) break;
    }
    expect(seen).toEqual(emulator.eventIds({ start: window.created_at_start, end: window.created_at_end }));
  });

  it('an empty page is a header-only CSV', async () => {
    const { csv, names } = await fetchZip({ ...window, offset: 1_000_000 });
    expect(names).toEqual(['audit_packages.csv']);
    expect(csv).toBe(`${HEADER}\r\n`);
  });

  it('has one row per event with dry_run=true', async () => {
    const { csv } = await fetchZip({ ...window, dry_run: 'true', num_of_rows: 2000 });
    const rows = parseCsv(csv).slice(1);
    expect(rows.length).toBe(emulator.countEvents({ start: window.created_at_start, end: window.created_at_end, dryRun: true }));
    expect(rows.every((row) => row[24] === 'true' && row[25] === 'dry_run')).toBe(true);
  });

  it('names the file audit_packages_incomplete.csv when the range holds more than the threshold', async () => {
    const small = await startXrayEmulator({ events: 1000, datasetEnd: '2024-02-01T00:00:00Z', now: () => NOW, incompleteThreshold: 50 });
    try {
      const over = await fetchZip({ created_at_start: '2024-01-20T00:00:00Z', created_at_end: '2024-01-25T00:00:00Z', num_of_rows: 10 }, small);
      expect(small.countEvents({ start: '2024-01-20T00:00:00Z', end: '2024-01-25T00:00:00Z' })).toBeGreaterThan(50);
      expect(over.names).toEqual(['audit_packages_incomplete.csv']);
      expect(new Set(parseCsv(over.csv).slice(1).map((row) => row[0])).size).toBe(10); // the page is there anyway
      const under = await fetchZip({ created_at_start: '2024-01-20T00:00:00Z', created_at_end: '2024-01-20T12:00:00Z' }, small);
      expect(under.names).toEqual(['audit_packages.csv']);
    } finally {
      await small.close();
    }
  });
});

import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Prng } from '../../emulators/common/prng.js';
import { writeSingleFileZip } from '../../emulators/xray/zip-stream.js';

describe('streaming zip writer', () => {
  const directory = mkdtempSync(join(tmpdir(), 'xray-zip-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('streams ~24 MB through deflate into a zip python3 verifies (CRC, sizes, name)', async () => {
    const prng = new Prng(5);
    const hash = createHash('sha256');
    function* content(): Generator<string> {
      for (let k = 0; k < 3000; k++) {
        // Half random hex (barely compressible), half repetitive text.
        const chunk = `${prng.hex(4096)}\n${'audit,row,'.repeat(400)}\n`;
        hash.update(chunk);
        yield chunk;
      }
    }
    const path = join(directory, 'big.zip');
    const sink = createWriteStream(path, { highWaterMark: 16 * 1024 }); // small buffer: backpressure kicks in
    await writeSingleFileZip(sink, 'data.csv', content(), new Date('2024-05-06T07:08:10Z'));
    await new Promise<void>((resolve) => sink.on('close', () => resolve()));
    const script = 'import sys, zipfile, hashlib\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n'
      + 'info = z.infolist()[0]\nprint(info.filename, info.flag_bits & 8, info.compress_type, info.date_time, hashlib.sha256(z.read(info)).hexdigest())';
    const output = execFileSync('python3', ['-c', script, path], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim();
    expect(output).toBe(`data.csv 8 8 (2024, 5, 6, 7, 8, 10) ${hash.digest('hex')}`);
  });

  it('writes a valid archive for empty content', async () => {
    const path = join(directory, 'empty.zip');
    const sink = createWriteStream(path);
    await writeSingleFileZip(sink, 'empty.csv', []);
    await new Promise<void>((resolve) => sink.on('close', () => resolve()));
    const script = 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(z.namelist(), len(z.read("empty.csv")))';
    expect(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' }).trim()).toBe("['empty.csv'] 0");
  });
});

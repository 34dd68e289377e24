import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { CHECKPOINT_TABLE_KEYS, processAlive } from '../functions/common/checkpoints.js';

/**
 * A DynamoDB-compatible server on loopback (dynalite): the twin's checkpoint table. Given a directory it keeps
 * the table there (LevelDB), so the twin's checkpoints outlive the process like its S3 files; without one, in
 * memory. One process at a time opens a directory (LevelDB locks it).
 */
export interface LocalDynamo {
  endpoint: string;
  table: string;
  client: DynamoDBClient;
  close(): Promise<void>;
}

export async function startLocalDynamo(table = 'audit-export-checkpoints', directory?: string): Promise<LocalDynamo> {
  const unlock = directory ? await lockDirectory(directory) : async () => undefined;
  let server: ReturnType<typeof dynalite>;
  try {
    server = await listen(directory);
  } catch (error) {
    await unlock();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
  });
  const close = async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlock();
  };
  try {
    await createTable(client, table);
  } catch (error) {
    await close();
    throw error;
  }
  return { endpoint, table, client, close };
}

async function listen(directory: string | undefined) {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(directory ? { path: directory } : {}) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}

async function createTable(client: DynamoDBClient, table: string): Promise<void> {
  // The same key schema the CDK stack declares; a kept table is there already.
  await client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [
        { AttributeName: CHECKPOINT_TABLE_KEYS.partitionKey, AttributeType: 'S' },
        { AttributeName: CHECKPOINT_TABLE_KEYS.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: CHECKPOINT_TABLE_KEYS.partitionKey, KeyType: 'HASH' },
        { AttributeName: CHECKPOINT_TABLE_KEYS.sortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  ).catch((error: unknown) => {
    if (!(error instanceof ResourceInUseException)) throw error;
  });
  await client
    .send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: CHECKPOINT_TABLE_KEYS.timeToLive, Enabled: true } }))
    .catch(() => undefined); // dynalite does not implement TTL; AWS does
}

/**
 * LevelDB lets one process open a directory; a second dynalite on it fails deep inside a request. So the
 * directory is claimed first (a file naming the process): a live holder is refused by name, a dead one's
 * claim is taken over.
 */
async function lockDirectory(directory: string): Promise<() => Promise<void>> {
  await mkdir(directory, { recursive: true });
  const file = path.join(directory, 'in-use-by.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) {
      throw new Error(`${path.dirname(directory)} is in use by another audit-export process (pid ${holder}): wait for it to end, or use another --twin-dir`);
    }
    if (holder === process.pid) {
      throw new Error(`${path.dirname(directory)} is already open in this process: close that twin first, or use another directory`);
    }
    await rm(file, { force: true }); // its holder stopped without closing
  }
  throw new Error(`could not claim ${directory}`);
}

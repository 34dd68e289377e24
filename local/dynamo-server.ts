import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { CHECKPOINT_TABLE_KEYS } from '../functions/common/checkpoints.js';

/** A DynamoDB-compatible server on loopback (dynalite, in memory): the twin's checkpoint table. */
export interface LocalDynamo {
  endpoint: string;
  table: string;
  client: DynamoDBClient;
  close(): Promise<void>;
}

export async function startLocalDynamo(table = 'audit-export-checkpoints'): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
  });
  // The same key schema the CDK stack declares.
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
  );
  await client
    .send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: CHECKPOINT_TABLE_KEYS.timeToLive, Enabled: true } }))
    .catch(() => undefined); // dynalite does not implement TTL; AWS does
  return {
    endpoint,
    table,
    client,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** An in-memory DuckDB: the independent engine the tests read the Parquet files back with. */
export class DuckDb {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(): Promise<DuckDb> {
    const instance = await DuckDBInstance.create(':memory:');
    return new DuckDb(instance, await instance.connect());
  }

  async rows(sql: string): Promise<Record<string, unknown>[]> {
    return (await this.connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  }

  /** `read_parquet` of one file, without Hive partition columns (the key's region=/accountId=/eventDay=). */
  static file(path: string): string {
    return `read_parquet('${path.replaceAll("'", "''")}', hive_partitioning = false, file_row_number = true)`;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { LambdaFunctionError, type LambdaErrorPayload } from './state-machine-runner.js';

/**
 * Runs a bundled Lambda asset (`cdk.out/asset.*`) the way the Lambda service does, close enough for what the
 * state machines rely on:
 *
 * - each function gets containers of its own: a Node 22 process that imports the bundle once (the cold start)
 *   and then serves invocations one at a time, reused while warm; a second concurrent invocation gets a
 *   second container;
 * - the code is copied to a sandbox outside the project, with no node_modules on any parent path: what the
 *   bundle does not contain cannot be found;
 * - the environment is exactly the function's (from the template) plus what the Lambda runtime sets
 *   (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, credentials…) and the twin's endpoints: nothing of the parent's;
 * - the handler gets a context (awsRequestId, getRemainingTimeInMillis…); a thrown error comes back as the
 *   Node.js runtime reports it, `{errorType: error.name, errorMessage, trace}`;
 * - past the function's timeout the container is killed and Step Functions sees `Sandbox.Timedout`; a
 *   container that dies during an invocation (out of memory, a crash) is `Lambda.Unknown`. Either way the next
 *   invocation starts a fresh container.
 */

export interface LambdaFunctionSpec {
  /** The function's name (`AWS_LAMBDA_FUNCTION_NAME`). */
  name: string;
  /** The bundled asset directory (holds index.mjs). */
  codeDirectory: string;
  /** `index.handler`. */
  handler: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** The function's own environment (as the template resolves it). */
  environment: Record<string, string>;
}

export interface LambdaRuntimeOptions {
  region: string;
  /** Credentials the runtime hands the function (the twin's servers check their own). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Where the functions' stdout and stderr go (what CloudWatch Logs would hold). */
  logs?: Writable;
  /** The Node.js 22 binary; default: the one running this process, which must be Node 22. */
  nodePath?: string;
}

export interface InvocationRecord {
  requestId: string;
  pid: number;
  coldStart: boolean;
  initMs?: number;
  durationMs: number;
  outcome: 'ok' | 'error' | 'timeout' | 'crash';
}

const BOOTSTRAP = String.raw`
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [file, exportName] = (() => {
  const handler = process.env._HANDLER;
  const dot = handler.lastIndexOf('.');
  return [handler.slice(0, dot), handler.slice(dot + 1)];
})();
const payload = (error) =>
  error instanceof Error
    ? { errorType: error.name || 'Error', errorMessage: error.message, trace: String(error.stack ?? '').split('\n') }
    : { errorType: typeof error, errorMessage: String(error), trace: [] };

let current;
const fail = (error, type) => {
  const body = { ...payload(error), ...(type ? { errorType: type } : {}) };
  process.send({ type: current ? 'error' : 'init-error', id: current, error: body }, () => process.exit(1));
};
process.on('uncaughtException', (error) => fail(error, 'Runtime.UncaughtException'));
process.on('unhandledRejection', (error) => fail(error, 'Runtime.UnhandledPromiseRejection'));

const started = performance.now();
let handler;
try {
  const module = await import(pathToFileURL(path.join(process.env.LAMBDA_TASK_ROOT, file + '.mjs')).href);
  handler = module[exportName];
  if (typeof handler !== 'function') throw Object.assign(new Error(file + '.' + exportName + ' is undefined or not exported'), { name: 'Runtime.HandlerNotFound' });
  process.send({ type: 'ready', initMs: performance.now() - started });
} catch (error) {
  fail(error, error?.name === 'Runtime.HandlerNotFound' ? undefined : 'Runtime.ImportModuleError');
}

process.on('message', async (message) => {
  if (message.type !== 'invoke') return;
  current = message.id;
  const deadline = Date.now() + message.timeoutMs;
  const context = {
    awsRequestId: message.id,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: message.arn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const result = await handler(message.event, context);
    process.send({ type: 'result', id: message.id, result: JSON.stringify(result ?? null) });
  } catch (error) {
    process.send({ type: 'error', id: message.id, error: payload(error) });
  } finally {
    current = undefined;
  }
});
`;

interface Container {
  child: ChildProcess;
  pid: number;
  ready: Promise<number>;
  invocations: number;
}

type ContainerMessage =
  | { type: 'ready'; initMs: number }
  | { type: 'init-error'; error: LambdaErrorPayload }
  | { type: 'result'; id: string; result: string }
  | { type: 'error'; id: string; error: LambdaErrorPayload };

/** The containers of one function: invoke() takes a warm one, or starts one (a cold start). */
export class LambdaFunction {
  readonly invocations: InvocationRecord[] = [];
  private readonly idle: Container[] = [];
  private readonly all = new Set<Container>();
  private closed = false;

  constructor(
    readonly spec: LambdaFunctionSpec,
    readonly arn: string,
    private readonly taskRoot: string,
    private readonly runtimeDirectory: string,
    private readonly environment: Record<string, string>,
    private readonly options: LambdaRuntimeOptions,
  ) {}

  /** Invokes the function with `event`; resolves with its result or rejects with a LambdaFunctionError. */
  async invoke(event: unknown): Promise<unknown> {
    if (this.closed) throw new Error(`${this.spec.name} is shut down`);
    const requestId = randomUUID();
    const warm = this.idle.pop();
    const container = warm ?? this.start();
    const started = Date.now();
    const record: InvocationRecord = { requestId, pid: container.pid, coldStart: !warm, durationMs: 0, outcome: 'ok' };
    this.invocations.push(record);
    try {
      const initMs = await container.ready;
      if (!warm) record.initMs = Math.round(initMs);
      const result = await this.send(container, requestId, event);
      this.idle.push(container);
      return result;
    } catch (error) {
      record.outcome = error instanceof LambdaFunctionError && error.errorType === 'Sandbox.Timedout' ? 'timeout' : error instanceof ContainerGone ? 'crash' : 'error';
      if (error instanceof ContainerGone) throw error.toLambdaError(requestId);
      if (container.child.exitCode === null && container.child.signalCode === null && !(error as { fatal?: boolean }).fatal) {
        this.idle.push(container);
      }
      throw error;
    } finally {
      record.durationMs = Date.now() - started;
    }
  }

  /** The containers started so far (cold starts). */
  get coldStarts(): number {
    return this.invocations.filter((invocation) => invocation.coldStart).length;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.all].map((container) => stop(container.child)));
  }

  private start(): Container {
    const child = fork(path.join(this.runtimeDirectory, 'bootstrap.mjs'), [], {
      cwd: this.taskRoot,
      env: { ...this.environment, AWS_LAMBDA_LOG_STREAM_NAME: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${randomUUID().replace(/-/g, '')}` },
      execPath: this.options.nodePath ?? process.execPath,
      execArgv: [`--max-old-space-size=${this.spec.memoryMb}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const logs = this.options.logs;
    for (const stream of [child.stdout, child.stderr]) {
      if (logs) stream?.on('data', (chunk: Buffer) => logs.write(chunk));
      else stream?.resume();
    }
    const container: Container = { child, pid: child.pid ?? -1, invocations: 0, ready: Promise.resolve(0) };
    container.ready = new Promise<number>((resolve, reject) => {
      const onMessage = (message: ContainerMessage) => {
        if (message.type === 'ready') resolve(message.initMs);
        if (message.type === 'init-error') reject(Object.assign(new LambdaFunctionError(message.error.errorType, JSON.stringify(message.error)), { fatal: true }));
        if (message.type === 'ready' || message.type === 'init-error') child.off('message', onMessage);
      };
      child.on('message', onMessage);
      child.once('exit', (code, signal) => reject(new ContainerGone(code, signal)));
    });
    container.ready.catch(() => undefined);
    this.all.add(container);
    child.once('exit', () => {
      this.all.delete(container);
      const index = this.idle.indexOf(container);
      if (index >= 0) this.idle.splice(index, 1);
    });
    return container;
  }

  private send(container: Container, id: string, event: unknown): Promise<unknown> {
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    return new Promise((resolve, reject) => {
      const onMessage = (message: ContainerMessage) => {
        if (!('id' in message) || message.id !== id) return;
        cleanup();
        if (message.type === 'result') resolve(JSON.parse(message.result));
        else reject(new LambdaFunctionError(message.error.errorType, JSON.stringify(message.error)));
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(new ContainerGone(code, signal));
      };
      const timer = setTimeout(() => {
        cleanup();
        // Lambda freezes and discards a sandbox that timed out.
        void stop(container.child);
        const payload = {
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${id} Error: Task timed out after ${this.spec.timeoutSeconds.toFixed(2)} seconds`,
        };
        reject(Object.assign(new LambdaFunctionError('Sandbox.Timedout', JSON.stringify(payload)), { fatal: true }));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        container.child.off('message', onMessage);
        container.child.off('exit', onExit);
      };
      container.child.on('message', onMessage);
      container.child.once('exit', onExit);
      container.invocations++;
      container.child.send({ type: 'invoke', id, event, timeoutMs, arn: this.arn });
    });
  }
}

/** The container exited during an invocation: what Step Functions reports when Lambda returns no error type. */
class ContainerGone extends Error {
  constructor(
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(`Runtime exited with error: ${signal ? `signal: ${signal}` : `exit status ${code}`}`);
  }

  toLambdaError(requestId: string): LambdaFunctionError {
    const returned = JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: ${this.message}` });
    return new LambdaFunctionError(
      'Lambda.Unknown',
      `The cause could not be determined because Lambda did not return an error type. Returned payload: ${returned}`,
    );
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * The sandbox all functions of one run live in: a temporary directory outside the project, each function's
 * code copied under it.
 */
export class LambdaSandbox {
  readonly functions = new Map<string, LambdaFunction>();

  private constructor(
    readonly directory: string,
    private readonly options: LambdaRuntimeOptions,
  ) {}

  static async create(options: LambdaRuntimeOptions): Promise<LambdaSandbox> {
    const nodePath = options.nodePath ?? process.execPath;
    const major = Number(/^v(\d+)/.exec(process.version)?.[1]);
    if (!options.nodePath && major !== 22) {
      throw new Error(`The Lambdas run on Node.js 22 (nodejs22.x); this is Node.js ${process.version}: run through npm scripts or npx`);
    }
    const directory = await mkdtemp(path.join(os.tmpdir(), 'audit-export-lambda-'));
    for (let dir = directory; ; dir = path.dirname(dir)) {
      if (existsSync(path.join(dir, 'node_modules'))) {
        await rm(directory, { recursive: true, force: true });
        throw new Error(`${path.join(dir, 'node_modules')} would be reachable from the Lambda sandbox: the bundles must run without it`);
      }
      if (path.dirname(dir) === dir) break;
    }
    await mkdir(path.join(directory, 'runtime'));
    await writeFile(path.join(directory, 'runtime', 'bootstrap.mjs'), BOOTSTRAP);
    return new LambdaSandbox(directory, { ...options, nodePath });
  }

  /** Copies the function's code into the sandbox and prepares its containers (none started yet). */
  async add(spec: LambdaFunctionSpec, arn: string): Promise<LambdaFunction> {
    const taskRoot = path.join(this.directory, 'functions', spec.name.replace(/[^A-Za-z0-9-_]/g, '_'), 'task');
    await mkdir(taskRoot, { recursive: true });
    await cp(spec.codeDirectory, taskRoot, { recursive: true });
    const { credentials, region } = this.options;
    const environment: Record<string, string> = {
      ...spec.environment,
      // What the Lambda runtime sets for every function.
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_LAMBDA_FUNCTION_NAME: spec.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
      LAMBDA_TASK_ROOT: taskRoot,
      LAMBDA_RUNTIME_DIR: path.join(this.directory, 'runtime'),
      _HANDLER: spec.handler,
      HOME: this.directory,
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      PATH: '/usr/local/bin:/usr/bin/:/bin',
    };
    const fn = new LambdaFunction(spec, arn, taskRoot, path.join(this.directory, 'runtime'), environment, this.options);
    this.functions.set(arn, fn);
    return fn;
  }

  async close(): Promise<void> {
    await Promise.all([...this.functions.values()].map((fn) => fn.close()));
    await rm(this.directory, { recursive: true, force: true });
  }
}

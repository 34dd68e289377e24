import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { startAwsStandIns, type AwsStandIns } from './aws-stand-ins.js';
import { LambdaSandbox, type LambdaFunction } from './lambda-runtime.js';
import { runLocalExecution, type ExecutionEvent, type LocalRunResult, type TaskHandler } from './state-machine-runner.js';
import type { Twin } from './twin.js';

/**
 * The synthesized stack, run locally as deployed: the cloud assembly's template (cdk.out, or any `cdk synth`
 * output), each state machine's staged definition with its DefinitionSubstitutions applied, and each Task
 * calling the bundled asset of its function in a sandboxed Node 22 container (lambda-runtime.ts) with exactly
 * the environment the template gives that function. References in the template resolve to the twin:
 *
 * - the export bucket → the twin's S3 bucket, the checkpoint table → the twin's table;
 * - secrets and KMS keys → ARNs served by the AWS stand-in (aws-stand-ins.ts), secrets holding the twin's
 *   credentials where given, the template's own placeholder value otherwise;
 * - functions → ARNs of the sandbox's functions;
 * - the services' endpoints through AWS_ENDPOINT_URL_<SERVICE>, which the SDK in the bundles honours, so no
 *   code path differs from AWS; the vendor base URLs (literal configuration) → the emulators, and, for the MFT
 *   functions only, MFT_DOWNLOAD_ALLOW_LOOPBACK (the emulator's report storage is on loopback).
 *
 * Anything else a function's environment or a definition refers to fails loudly: the twin does not have it.
 * A stack with the OCSF normalizer (ocsf.enabled) is refused as a whole: the twin has no stand-in for Glue or
 * Security Lake (the demo normalizes on the twin with the same code). A VPC placement (the network setting) is
 * not reproduced: the functions reach the twin's servers on loopback.
 */

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, any>;
  Metadata?: Record<string, unknown>;
}

export interface CloudAssembly {
  directory: string;
  stackName: string;
  template: { Resources: Record<string, TemplateResource> };
  /** S3 object key of a file asset → its staged path in the assembly. */
  assetPaths: Record<string, string>;
}

/** Reads the one CloudFormation stack of a cloud assembly (`cdk.out`). */
export async function readCloudAssembly(directory: string, stackName?: string): Promise<CloudAssembly> {
  const manifest = JSON.parse(await readFile(path.join(directory, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { type: string; properties?: { templateFile?: string; stackName?: string } }>;
  };
  const stacks = Object.entries(manifest.artifacts).filter(
    ([id, artifact]) => artifact.type === 'aws:cloudformation:stack' && (!stackName || (artifact.properties?.stackName ?? id) === stackName),
  );
  if (stacks.length !== 1) {
    throw new Error(`${directory} holds ${stacks.length} matching stacks${stackName ? ` named ${stackName}` : ''}; expected one (run \`npm run synth\`)`);
  }
  const [id, artifact] = stacks[0]!;
  const template = JSON.parse(await readFile(path.join(directory, artifact.properties!.templateFile!), 'utf8')) as CloudAssembly['template'];
  const assets = JSON.parse(await readFile(path.join(directory, `${id}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }>;
  };
  const assetPaths: Record<string, string> = {};
  for (const file of Object.values(assets.files)) {
    for (const destination of Object.values(file.destinations)) assetPaths[destination.objectKey] = path.join(directory, file.source.path);
  }
  return { directory, stackName: artifact.properties?.stackName ?? id, template, assetPaths };
}

export interface TwinBindings {
  /** The bucket the export bucket becomes. */
  bucket: string;
  /** The table the checkpoint table becomes. */
  table: string;
  endpoints: { s3: string; dynamodb: string };
  /** Secret values by the secret's construct path below the stack (e.g. `Mft/CredentialsSecret`). */
  secrets?: Record<string, string>;
  /**
   * Literal environment values to replace, by variable name (the vendor base URLs → the emulators). Each must
   * be one the template sets, so a renamed variable fails here instead of silently keeping the vendor's URL.
   */
  environment?: Record<string, string>;
  /**
   * Variables the twin adds to the functions whose template environment has `forFunctionsWith`, for what
   * only the twin needs (the emulators' storage on loopback). Each must match at least one function.
   */
  additions?: { forFunctionsWith: string; variables: Record<string, string> }[];
  /** Credentials the Lambda runtime hands the functions (what the twin's S3 server accepts). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where the functions' output goes (the twin's log file). */
  logFile?: string;
  region?: string;
  account?: string;
}

export interface DeployedStateMachine {
  name: string;
  logicalId: string;
  definition: StateMachineDefinition;
  /** Task Resource (a function ARN) → the function. */
  functions: Record<string, LambdaFunction>;
}

export class DeployedStack {
  private constructor(
    readonly assembly: CloudAssembly,
    readonly stateMachines: DeployedStateMachine[],
    readonly functions: Map<string, LambdaFunction>,
    readonly aws: AwsStandIns,
    private readonly sandbox: LambdaSandbox,
    private readonly logs: WriteStream | undefined,
  ) {}

  static async start(assembly: CloudAssembly, bindings: TwinBindings): Promise<DeployedStack> {
    const region = bindings.region ?? 'us-east-1';
    const account = bindings.account ?? '000000000000';
    const resources = assembly.template.Resources;
    refuseWhatTheTwinLacks(assembly);
    const aws = await startAwsStandIns();
    const logs = bindings.logFile ? createWriteStream(bindings.logFile, { flags: 'a' }) : undefined;
    let sandbox: LambdaSandbox | undefined;
    try {
      sandbox = await LambdaSandbox.create({
        region,
        credentials: { ...bindings.credentials, sessionToken: 'twin-session-token' },
        ...(logs ? { logs } : {}),
      });
      const resolver = new TemplateResolver(assembly, region, account, bindings, aws);

      const functions = new Map<string, LambdaFunction>();
      const overridden = new Set<string>();
      const added = new Set<NonNullable<TwinBindings['additions']>[number]>();
      for (const [logicalId, resource] of Object.entries(resources)) {
        if (resource.Type !== 'AWS::Lambda::Function') continue;
        const props = resource.Properties!;
        if (props.Runtime !== 'nodejs22.x') throw new Error(`${logicalId} runs ${props.Runtime}; the twin runs nodejs22.x bundles only`);
        const code = assembly.assetPaths[String(props.Code?.S3Key)];
        if (!code) throw new Error(`${logicalId}: no staged asset for its code (was the stack synthesized with bundling?)`);
        const environment: Record<string, string> = {};
        for (const [name, value] of Object.entries((props.Environment?.Variables ?? {}) as Record<string, unknown>)) {
          environment[name] = resolver.string(value, `${logicalId} environment ${name}`);
          if (bindings.environment?.[name] !== undefined) {
            environment[name] = bindings.environment[name]!;
            overridden.add(name);
          }
        }
        for (const addition of bindings.additions ?? []) {
          if (!(addition.forFunctionsWith in environment)) continue;
          Object.assign(environment, addition.variables);
          added.add(addition);
        }
        Object.assign(environment, {
          AWS_ENDPOINT_URL_S3: bindings.endpoints.s3,
          AWS_ENDPOINT_URL_DYNAMODB: bindings.endpoints.dynamodb,
          AWS_ENDPOINT_URL_KMS: aws.endpoint,
          AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint,
        });
        const name = resolver.ref(logicalId);
        const fn = await sandbox.add(
          {
            name,
            codeDirectory: code,
            handler: String(props.Handler),
            timeoutSeconds: Number(props.Timeout ?? 3),
            memoryMb: Number(props.MemorySize ?? 128),
            environment,
          },
          resolver.getAtt(logicalId, 'Arn'),
        );
        functions.set(fn.arn, fn);
      }
      const unused = Object.keys(bindings.environment ?? {}).filter((name) => !overridden.has(name));
      if (unused.length) throw new Error(`No function of ${assembly.stackName} has the environment variable(s) ${unused.join(', ')} to point at the twin`);
      const unmatched = (bindings.additions ?? []).filter((addition) => !added.has(addition)).map((addition) => addition.forFunctionsWith);
      if (unmatched.length) throw new Error(`No function of ${assembly.stackName} has the environment variable(s) ${unmatched.join(', ')} the twin adds to`);

      const stateMachines: DeployedStateMachine[] = [];
      for (const [logicalId, resource] of Object.entries(resources)) {
        if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
        const props = resource.Properties!;
        const file = assembly.assetPaths[String(props.DefinitionS3Location?.Key)];
        if (!file) throw new Error(`${logicalId}: no staged definition file`);
        const substitutions: Record<string, string> = {};
        for (const [name, value] of Object.entries((props.DefinitionSubstitutions ?? {}) as Record<string, unknown>)) {
          substitutions[name] = resolver.string(value, `${logicalId} substitution ${name}`);
        }
        const text = (await readFile(file, 'utf8')).replace(/\$\{(\w+)\}/g, (match, name: string) => {
          const value = substitutions[name];
          if (value === undefined) throw new Error(`${logicalId}: the definition uses ${match}, which has no substitution`);
          return value;
        });
        const definition = JSON.parse(text) as StateMachineDefinition;
        const used: Record<string, LambdaFunction> = {};
        for (const resourceArn of taskResources(definition)) {
          const fn = functions.get(resourceArn);
          if (!fn) throw new Error(`${logicalId}: a Task calls ${resourceArn}, which is not a function of the stack`);
          used[resourceArn] = fn;
        }
        stateMachines.push({ name: resolver.string(props.StateMachineName ?? logicalId, `${logicalId} name`), logicalId, definition, functions: used });
      }
      return new DeployedStack(assembly, stateMachines, functions, aws, sandbox, logs);
    } catch (error) {
      await sandbox?.close();
      await aws.close();
      logs?.end();
      throw error;
    }
  }

  /** The state machine whose name ends with `suffix` (e.g. `-mft-export`). */
  stateMachine(suffix: string): DeployedStateMachine {
    const found = this.stateMachines.filter((machine) => machine.name.endsWith(suffix));
    if (found.length !== 1) throw new Error(`${this.assembly.stackName} has ${found.length} state machines named *${suffix}`);
    return found[0]!;
  }

  /** Runs one execution of a deployed state machine on the strict local engine. */
  run(
    machine: DeployedStateMachine,
    options: { input: unknown; executionName: string; waitMs?: number; retryMs?: number; onEvent?: (event: ExecutionEvent) => void },
  ): Promise<LocalRunResult> {
    const handlers: Record<string, TaskHandler> = {};
    for (const [arn, fn] of Object.entries(machine.functions)) handlers[arn] = (input) => fn.invoke(input);
    return runLocalExecution({ definition: machine.definition, handlers, stateMachineName: machine.name, ...options });
  }

  async close(): Promise<void> {
    await this.sandbox.close();
    await this.aws.close();
    await new Promise<void>((resolve) => (this.logs ? this.logs.end(() => resolve()) : resolve()));
  }
}

/** Parts of a stack the twin has nothing to run against: refused up front, with what to do instead. */
function refuseWhatTheTwinLacks(assembly: CloudAssembly): void {
  const ocsf = Object.entries(assembly.template.Resources)
    .filter(
      ([, resource]) =>
        resource.Type.startsWith('AWS::Glue::') ||
        resource.Type.startsWith('Custom::SecurityLake') ||
        (resource.Type === 'AWS::Lambda::Function' && 'OCSF_TARGET' in (resource.Properties?.Environment?.Variables ?? {})),
    )
    .map(([id]) => id);
  if (ocsf.length) {
    throw new Error(
      `${assembly.stackName} deploys the OCSF normalizer (ocsf.enabled: ${ocsf.slice(0, 3).join(', ')}${ocsf.length > 3 ? ', …' : ''}): ` +
        'the twin has no stand-in for Glue or Security Lake. Synthesize with ocsf.enabled false to run the stack on the twin ' +
        '(`npm start` normalizes the twin\'s exports with the same code).',
    );
  }
}

function taskResources(definition: StateMachineDefinition): string[] {
  const out: string[] = [];
  const visit = (states: Record<string, any>) => {
    for (const state of Object.values(states)) {
      if (state.Type === 'Task') out.push(String(state.Resource));
      const nested = state.ItemProcessor ?? state.Iterator;
      if (nested) visit(nested.States);
      for (const branch of state.Branches ?? []) visit(branch.States);
    }
  };
  visit(definition.States as Record<string, any>);
  return out;
}

/** CloudFormation's intrinsic functions, over the resources the twin can stand in for. */
class TemplateResolver {
  private readonly secretsRegistered = new Set<string>();

  constructor(
    private readonly assembly: CloudAssembly,
    private readonly region: string,
    private readonly account: string,
    private readonly bindings: TwinBindings,
    private readonly aws: AwsStandIns,
  ) {}

  string(value: unknown, where: string): string {
    const resolved = this.resolve(value, where);
    if (typeof resolved !== 'string' && typeof resolved !== 'number' && typeof resolved !== 'boolean') {
      throw new Error(`${where}: expected a string, got ${JSON.stringify(value)}`);
    }
    return String(resolved);
  }

  private resolve(value: unknown, where: string): unknown {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((item) => this.resolve(item, where));
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length !== 1 || !(entries[0]![0] === 'Ref' || entries[0]![0].startsWith('Fn::'))) {
      return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v, where)]));
    }
    const [fn, args] = entries[0]!;
    switch (fn) {
      case 'Ref':
        return this.ref(String(args));
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(args) ? args : String(args).split('.');
        return this.getAtt(String(id), String(attribute));
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, unknown[]];
        return (this.resolve(parts, where) as unknown[]).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = args as [number, unknown];
        return (this.resolve(list, where) as unknown[])[Number(index)];
      }
      case 'Fn::Split': {
        const [separator, source] = args as [string, unknown];
        return String(this.resolve(source, where)).split(separator);
      }
      default:
        throw new Error(`${where}: ${fn} is not supported on the twin`);
    }
  }

  ref(id: string): string {
    switch (id) {
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return this.account;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.assembly.stackName;
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${this.region}:${this.account}:stack/${this.assembly.stackName}/${uuidOf(this.assembly.stackName)}`;
      default:
        break;
    }
    const resource = this.resource(id);
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        if (!this.cdkPath(id).endsWith('/ExportBucket/Resource')) throw new Error(`${id} (${this.cdkPath(id)}): the twin has only the export bucket`);
        return this.bindings.bucket;
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table':
        return this.bindings.table;
      case 'AWS::SecretsManager::Secret':
        return this.secret(id);
      case 'AWS::KMS::Key':
        return uuidOf(id);
      case 'AWS::Lambda::Function': {
        const name = `${this.assembly.stackName}-${id}`;
        return name.length <= 64 ? name : `${name.slice(0, 51)}-${uuidOf(id).slice(0, 12)}`;
      }
      case 'AWS::StepFunctions::StateMachine':
        // The verifier names the Xray state machine (it starts re-exports there): its ARN, by the machine's name.
        return `arn:aws:states:${this.region}:${this.account}:stateMachine:${this.string(resource.Properties?.StateMachineName ?? id, `${id} name`)}`;
      default:
        throw new Error(`Ref ${id} (${resource.Type}) has no stand-in on the twin`);
    }
  }

  getAtt(id: string, attribute: string): string {
    const resource = this.resource(id);
    const unsupported = () => new Error(`Fn::GetAtt ${id}.${attribute} (${resource.Type}) has no stand-in on the twin`);
    if (attribute !== 'Arn') throw unsupported();
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${this.ref(id)}`;
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${this.region}:${this.account}:table/${this.ref(id)}`;
      case 'AWS::KMS::Key': {
        const arn = `arn:aws:kms:${this.region}:${this.account}:key/${uuidOf(id)}`;
        this.aws.createKey(arn);
        return arn;
      }
      case 'AWS::SecretsManager::Secret':
        return this.secret(id);
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${this.region}:${this.account}:function:${this.ref(id)}`;
      default:
        throw unsupported();
    }
  }

  /** A secret's ARN, its value registered with the stand-in once: the twin's, or the template's placeholder. */
  private secret(id: string): string {
    const arn = `arn:aws:secretsmanager:${this.region}:${this.account}:secret:${id}-${uuidOf(id).slice(0, 6)}`;
    if (!this.secretsRegistered.has(id)) {
      this.secretsRegistered.add(id);
      const below = this.cdkPath(id).split('/').slice(1, -1).join('/');
      const bound = this.bindings.secrets?.[below];
      const own = this.resource(id).Properties?.SecretString;
      const value = bound ?? (own === undefined ? undefined : this.string(own, `${id} SecretString`));
      if (value !== undefined) this.aws.putSecret(arn, value);
    }
    return arn;
  }

  private resource(id: string): TemplateResource {
    const resource = this.assembly.template.Resources[id];
    if (!resource) throw new Error(`The template has no resource ${id}`);
    return resource;
  }

  private cdkPath(id: string): string {
    return String(this.resource(id).Metadata?.['aws:cdk:path'] ?? id);
  }
}

/** A stable UUID-shaped id for a name (key ids, stack ids). */
function uuidOf(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * What the stack's references become on a running twin: its bucket, table and servers, the emulators'
 * credentials in the secrets, the emulators instead of the vendors' base URLs.
 */
export function twinBindings(twin: Twin, assembly: CloudAssembly): TwinBindings {
  const variables = new Set(
    Object.values(assembly.template.Resources).flatMap((resource) =>
      resource.Type === 'AWS::Lambda::Function' ? Object.keys(resource.Properties?.Environment?.Variables ?? {}) : [],
    ),
  );
  const secrets: Record<string, string> = {
    'Mft/CredentialsSecret': JSON.stringify({ tenantId: twin.mft.tenantId, kid: twin.mft.kid, privateKeyPem: twin.mft.privateKeyPem }),
  };
  const environment: Record<string, string> = {};
  const additions: NonNullable<TwinBindings['additions']> = [];
  if (variables.has('MFT_BASE_URL')) {
    environment.MFT_BASE_URL = twin.mft.baseUrl;
    // The emulator's report storage listens on loopback, which downloads may reach only when allowed (as the twin's own runtime does).
    additions.push({ forFunctionsWith: 'MFT_BASE_URL', variables: { MFT_DOWNLOAD_ALLOW_LOOPBACK: 'true' } });
  }
  if (twin.xray) {
    secrets['Xray/CredentialsSecret'] = JSON.stringify({ accessToken: twin.xray.admin.accessToken });
    if (variables.has('XRAY_BASE_URL')) environment.XRAY_BASE_URL = twin.xray.baseUrl;
  }
  return {
    bucket: twin.s3.bucket,
    table: twin.dynamo.table,
    endpoints: { s3: twin.s3.endpoint, dynamodb: twin.dynamo.endpoint },
    credentials: twin.s3.credentials,
    logFile: twin.logFile,
    secrets,
    environment,
    additions,
  };
}

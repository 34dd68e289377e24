/**
 * Compiles what the OCSF normalizer needs from an OCSF schema checkout into one committed JSON file
 * (functions/ocsf/schema/ocsf-<version>.json), so the validator and the tests stand alone:
 *
 *   npx tsx scripts/generate-ocsf-schema.ts [path/to/ocsf-schema] [--check]
 *
 * (default: $OCSF_SCHEMA_DIR, else shared/ocsf-schema-1.1.0 beside the repository or one level up). `--check` writes nothing and fails when
 * the committed file differs from what the checkout compiles to.
 *
 * It resolves the classes the normalizer emits (and Entity Management, which the mapping was compared with) the
 * way the OCSF schema server does: the `extends` chain, `$include`d files (attributes of a profile file are tagged
 * with that profile, `"profile": null` removes the tag), each attribute's definition merged over the dictionary's
 * (enums merged), and every object reachable from those classes, with its own `extends`, includes and constraints.
 * Descriptions are dropped; captions are kept where a value needs one (enum values, sibling strings).
 */
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompiledAttribute, CompiledClass, CompiledObject, CompiledSchema, CompiledType } from '../functions/ocsf/schema-types.js';

/** The classes compiled (by file, under events/). */
export const COMPILED_CLASSES = ['application/api.json', 'application/web_resources_activity.json', 'iam/entity_management.json'];

type Json = Record<string, any>;

export function compileSchema(root: string): CompiledSchema {
  const read = (file: string): Json => JSON.parse(readFileSync(path.join(root, file), 'utf8')) as Json;
  const version = (read('version.json') as { version: string }).version;
  const dictionary = read('dictionary.json');
  const categories = read('categories.json').attributes as Record<string, { uid: number; caption: string }>;
  const dictionaryTypes = dictionary.types.attributes as Record<string, Json>;

  const types: Record<string, CompiledType> = {};
  const baseOf = (name: string): CompiledType['base'] => {
    const type = dictionaryTypes[name];
    if (!type) throw new Error(`Unknown type ${name}`);
    if (type.type) return baseOf(type.type as string);
    const bases: Record<string, CompiledType['base']> = {
      string_t: 'string', integer_t: 'integer', long_t: 'long', float_t: 'float', boolean_t: 'boolean', json_t: 'json',
    };
    const base = bases[name];
    if (!base) throw new Error(`Type ${name} has no primitive base`);
    return base;
  };
  for (const [name, type] of Object.entries(dictionaryTypes)) {
    const compiled: CompiledType = { base: baseOf(name) };
    if (type.regex) compiled.regex = type.regex as string;
    if (type.max_len) compiled.maxLength = type.max_len as number;
    if (type.range) compiled.range = type.range as [number, number];
    types[name] = compiled;
  }

  /** Attributes of a definition file with its $include files merged under them (profile files tag theirs). */
  const ownAttributes = (definition: Json): Record<string, Json> => {
    const merged: Record<string, Json> = {};
    const attributes = (definition.attributes ?? {}) as Record<string, Json>;
    for (const include of (attributes.$include ?? []) as string[]) {
      const file = read(include);
      const profile = file.meta === 'profile' ? (file.name as string) : undefined;
      for (const [name, attribute] of Object.entries(ownAttributes(file))) {
        merged[name] = deepMerge(merged[name], profile && !('profile' in attribute) ? { ...attribute, profile } : attribute);
      }
    }
    for (const [name, attribute] of Object.entries(attributes)) {
      if (name === '$include') continue;
      merged[name] = deepMerge(merged[name], attribute);
    }
    return merged;
  };

  /** A definition with its `extends` chain resolved: parents' attributes first, the child's merged over them. */
  const resolve = (definition: Json, lookup: (name: string) => Json): { attributes: Record<string, Json>; profiles: string[]; constraints?: Json } => {
    const parent = definition.extends ? resolve(lookup(definition.extends as string), lookup) : { attributes: {}, profiles: [] as string[] };
    const attributes: Record<string, Json> = { ...parent.attributes };
    for (const [name, attribute] of Object.entries(ownAttributes(definition))) attributes[name] = deepMerge(attributes[name], attribute);
    const profiles = [...new Set([...parent.profiles, ...((definition.profiles ?? []) as string[])])];
    const constraints = (definition.constraints ?? parent.constraints) as Json | undefined;
    return constraints ? { attributes, profiles, constraints } : { attributes, profiles };
  };

  const objectFile = (name: string): Json => read(`objects/${name}.json`);
  const objects: Record<string, CompiledObject> = {};
  const pending: string[] = [];

  const compileAttributes = (attributes: Record<string, Json>, where: string): Record<string, CompiledAttribute> => {
    const out: Record<string, CompiledAttribute> = {};
    for (const [name, own] of Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const fromDictionary = dictionary.attributes[name] as Json | undefined;
      if (!fromDictionary) throw new Error(`${where}.${name} is not in the dictionary`);
      if (own['@deprecated'] || fromDictionary['@deprecated']) continue;
      const definition = stripNulls(deepMerge(fromDictionary, own));
      const type = definition.type as string;
      const attribute: CompiledAttribute = { type, requirement: (definition.requirement ?? 'optional') as CompiledAttribute['requirement'] };
      if (!types[type]) {
        if (type !== 'object' && !existsSync(path.join(root, 'objects', `${type}.json`))) throw new Error(`${where}.${name}: unknown type ${type}`);
        attribute.isObject = true;
        if (type !== 'object' && !objects[type] && !pending.includes(type)) pending.push(type);
      }
      if (definition.is_array) attribute.isArray = true;
      if (definition.enum) {
        attribute.enum = Object.fromEntries(
          Object.entries(definition.enum as Record<string, { caption: string }>)
            .sort(([a], [b]) => Number(a) - Number(b))
            .map(([value, item]) => [value, item.caption]),
        );
      }
      if (definition.sibling) attribute.sibling = definition.sibling as string;
      if (definition.profile) attribute.profile = definition.profile as string;
      out[name] = attribute;
    }
    return out;
  };

  const classes: Record<string, CompiledClass> = {};
  const classLookup = (name: string): Json => {
    const candidates = [`events/${name}.json`, ...['application', 'iam', 'system', 'network', 'discovery', 'findings'].map((c) => `events/${c}/${c === name ? c : name}.json`)];
    for (const file of candidates) if (existsSync(path.join(root, file))) return read(file);
    throw new Error(`No event class named ${name}`);
  };
  for (const file of COMPILED_CLASSES) {
    const definition = read(`events/${file}`);
    const resolved = resolve(definition, classLookup);
    const category = categoryOf(definition, classLookup);
    const categoryInfo = categories[category];
    if (!categoryInfo) throw new Error(`${file}: unknown category ${category}`);
    const uid = categoryInfo.uid * 1000 + (definition.uid as number);
    const compiled: CompiledClass = {
      name: definition.name as string,
      uid,
      caption: definition.caption as string,
      category,
      categoryUid: categoryInfo.uid,
      categoryCaption: categoryInfo.caption,
      profiles: resolved.profiles.sort(),
      attributes: compileAttributes(resolved.attributes, definition.name as string),
    };
    // The classification values are the class's own (the schema server fills these enums in the same way).
    compiled.attributes.class_uid!.enum = { [uid]: compiled.caption };
    compiled.attributes.category_uid!.enum = { [categoryInfo.uid]: categoryInfo.caption };
    if (resolved.constraints) compiled.constraints = resolved.constraints as CompiledClass['constraints'];
    classes[compiled.name] = compiled;
  }
  while (pending.length) {
    const name = pending.shift()!;
    const resolved = resolve(objectFile(name), objectFile);
    const compiled: CompiledObject = { name, attributes: compileAttributes(resolved.attributes, name) };
    if (resolved.constraints) compiled.constraints = resolved.constraints as CompiledObject['constraints'];
    objects[name] = compiled;
  }
  const sortedObjects = Object.fromEntries(Object.entries(objects).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { version, source: `OCSF schema ${version}, compiled by scripts/generate-ocsf-schema.ts`, types, classes, objects: sortedObjects };
}

function categoryOf(definition: Json, lookup: (name: string) => Json): string {
  if (definition.category && definition.category !== 'other') return definition.category as string;
  if (!definition.extends) throw new Error(`${definition.name as string} has no category`);
  return categoryOf(lookup(definition.extends as string), lookup);
}

/**
 * Objects merge key by key (enums too), anything else is replaced. A `null` (e.g. "profile": null) is kept
 * through the merges, so it still removes what a parent or an include says, and dropped at the end (stripNulls).
 */
function deepMerge(base: Json | undefined, over: Json): Json {
  const out: Json = { ...(base ?? {}) };
  for (const [key, value] of Object.entries(over)) {
    if (isPlainObject(value) && isPlainObject(out[key])) out[key] = deepMerge(out[key] as Json, value as Json);
    else out[key] = value;
  }
  return out;
}

function stripNulls(value: Json): Json {
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, item]) => item !== null)
      .map(([key, item]) => [key, isPlainObject(item) ? stripNulls(item as Json) : item]),
  );
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** OCSF_SCHEMA_DIR, else the first `shared/ocsf-schema-1.1.0` beside the repository or one level up. */
export const DEFAULT_SCHEMA_CHECKOUT =
  process.env.OCSF_SCHEMA_DIR ??
  [path.resolve(PROJECT_ROOT, '..', 'shared', 'ocsf-schema-1.1.0'), path.resolve(PROJECT_ROOT, '..', '..', 'shared', 'ocsf-schema-1.1.0')].find((candidate) =>
    existsSync(path.join(candidate, 'dictionary.json')),
  ) ??
  path.resolve(PROJECT_ROOT, '..', 'shared', 'ocsf-schema-1.1.0');

export function compiledSchemaFile(version: string): string {
  return path.join(PROJECT_ROOT, 'functions', 'ocsf', 'schema', `ocsf-${version}.json`);
}

export function renderSchema(schema: CompiledSchema): string {
  return `${JSON.stringify(schema, null, 1)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const root = path.resolve(args.find((arg) => !arg.startsWith('--')) ?? DEFAULT_SCHEMA_CHECKOUT);
  if (!existsSync(path.join(root, 'dictionary.json'))) {
    process.stderr.write(`${root} is not an OCSF schema checkout (no dictionary.json); pass its path as the first argument\n`);
    process.exit(2);
  }
  const schema = compileSchema(root);
  const file = compiledSchemaFile(schema.version);
  const text = renderSchema(schema);
  if (check) {
    const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (current !== text) {
      process.stderr.write(`${path.relative(PROJECT_ROOT, file)} is out of date: run npx tsx scripts/generate-ocsf-schema.ts ${root}\n`);
      process.exit(1);
    }
    process.stdout.write(`${path.relative(PROJECT_ROOT, file)} is up to date\n`);
  } else {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stdout.write(`wrote ${path.relative(PROJECT_ROOT, file)}: ${Object.keys(schema.classes).length} classes, ${Object.keys(schema.objects).length} objects\n`);
  }
}

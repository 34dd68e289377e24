import type { CompiledAttribute, CompiledClass, CompiledObject, CompiledSchema, CompiledType } from './schema-types.js';
import compiled from './schema/ocsf-1.1.0.json' with { type: 'json' };

/**
 * The OCSF 1.1.0 classes and objects the normalizer emits, compiled from the schema by
 * scripts/generate-ocsf-schema.ts (see there for how the schema's inheritance, includes and profiles are resolved).
 */
export type { CompiledAttribute, CompiledClass, CompiledObject, CompiledSchema, CompiledType };

export const OCSF_SCHEMA = compiled as unknown as CompiledSchema;
export const OCSF_VERSION = OCSF_SCHEMA.version;

export function ocsfClass(name: string): CompiledClass {
  const found = OCSF_SCHEMA.classes[name];
  if (!found) throw new Error(`The compiled OCSF schema has no class ${name}`);
  return found;
}

export function ocsfClassByUid(uid: number): CompiledClass | undefined {
  return Object.values(OCSF_SCHEMA.classes).find((candidate) => candidate.uid === uid);
}

/** The caption of an enum value of a class attribute (e.g. activity_id 4 → "Delete"), from the schema. */
export function enumCaption(owner: CompiledObject, attribute: string, value: number): string {
  const caption = owner.attributes[attribute]?.enum?.[String(value)];
  if (caption === undefined) throw new Error(`${owner.name}.${attribute} has no value ${value}`);
  return caption;
}

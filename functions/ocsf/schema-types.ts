/** The shape of the compiled OCSF schema (functions/ocsf/schema/*.json, written by scripts/generate-ocsf-schema.ts). */

export interface CompiledAttribute {
  /** A type of the dictionary (`string_t`, `ip_t`…) or an object name. */
  type: string;
  isObject?: true;
  isArray?: true;
  requirement: 'required' | 'recommended' | 'optional';
  /** Integer (or string) value → caption. */
  enum?: Record<string, string>;
  /** The string attribute holding the caption of this `_id`. */
  sibling?: string;
  /** Only part of the event when this profile is applied (metadata.profiles). */
  profile?: string;
}

export interface CompiledObject {
  name: string;
  attributes: Record<string, CompiledAttribute>;
  constraints?: { at_least_one?: string[]; just_one?: string[] };
}

export interface CompiledClass extends CompiledObject {
  uid: number;
  caption: string;
  category: string;
  categoryUid: number;
  categoryCaption: string;
  /** The profiles this class may apply. */
  profiles: string[];
}

export interface CompiledType {
  /** The primitive the value is: string, integer (32-bit), long (64-bit), float, boolean, json, object. */
  base: 'string' | 'integer' | 'long' | 'float' | 'boolean' | 'json';
  regex?: string;
  maxLength?: number;
  range?: [number, number];
}

export interface CompiledSchema {
  version: string;
  source: string;
  types: Record<string, CompiledType>;
  classes: Record<string, CompiledClass>;
  objects: Record<string, CompiledObject>;
}

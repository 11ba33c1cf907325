import { AsyncLocalStorage } from 'node:async_hooks';
import { sqlRepository } from './repository.js';
import type { SqlExecutor, SqlValue } from './sql.js';
import type { Repository, RewrapPhoto, RewrapStaffTemplate, RewrapTemplate, Store, StoreChange, StoreWatch, StoredTemplate } from './types.js';

const DEFAULT_BATCH = 500;

/**
 * The type of the Repository methods installed on TransactionalStore's prototype below (a class cannot declare
 * members it receives at run time; this one base stands for them).
 */
const RepositoryMethods = class {} as unknown as abstract new () => Repository;

/** Which store's transaction the current async call chain is inside, to refuse calls that would escape it. */
const insideTransaction = new AsyncLocalStorage<TransactionalStore>();

/**
 * What both engines share: transactions handed out as repositories bound to one connection, every plain
 * store call run as its own transaction, paged iteration and batched re-protection. An engine supplies
 * `runInTransaction`: give `fn` a connection inside BEGIN … COMMIT, roll back if `fn` throws.
 */
export abstract class TransactionalStore extends RepositoryMethods implements Store {
  abstract readonly engine: 'sqlite' | 'postgres';

  protected abstract runInTransaction<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;
  abstract watch(listener: (change: StoreChange) => void): StoreWatch;
  abstract scrubDeleted(): Promise<boolean>;

  async transaction<T>(fn: (tx: Repository) => Promise<T>): Promise<T> {
    if (insideTransaction.getStore() === this) {
      // In SQLite this would wait for itself forever; in PostgreSQL it would silently leave the transaction.
      throw new Error('store called inside its own transaction: use the tx passed to transaction()');
    }
    return this.runInTransaction(async (sql) => {
      const scoped = new ScopedExecutor(sql);
      try {
        return await insideTransaction.run(this, () => fn(sqlRepository(scoped)));
      } finally {
        scoped.closed = true;
      }
    });
  }

  async *iterateTemplates(batchSize = DEFAULT_BATCH): AsyncIterable<StoredTemplate> {
    let after: string | null = null;
    for (;;) {
      const page: StoredTemplate[] = await this.listTemplatesPage(after, batchSize);
      yield* page;
      if (page.length < batchSize) return;
      after = (page[page.length - 1] as StoredTemplate).id;
    }
  }

  rewrapTemplates(fn: RewrapTemplate, batchSize = DEFAULT_BATCH): Promise<number> {
    return this.rewrap(
      (tx, after) => tx.listTemplatesPage(after, batchSize),
      fn,
      (tx, id, blob) => tx.updateTemplateProtection(id, blob),
      batchSize,
    );
  }

  rewrapPhotos(fn: RewrapPhoto, batchSize = DEFAULT_BATCH): Promise<number> {
    return this.rewrap(
      (tx, after) => tx.listPhotosPage(after, batchSize),
      fn,
      (tx, id, blob) => tx.updatePhotoProtection(id, blob),
      batchSize,
    );
  }

  rewrapStaffTemplates(fn: RewrapStaffTemplate, batchSize = DEFAULT_BATCH): Promise<number> {
    return this.rewrap(
      (tx, after) => tx.listStaffTemplatesPage(after, batchSize),
      fn,
      (tx, id, blob) => tx.updateStaffTemplateProtection(id, blob),
      batchSize,
    );
  }

  private async rewrap<R extends { id: string }, B>(
    page: (tx: Repository, after: string | null) => Promise<R[]>,
    fn: (row: R) => B | null | Promise<B | null>,
    write: (tx: Repository, id: string, blob: B) => Promise<boolean>,
    batchSize: number,
  ): Promise<number> {
    let after: string | null = null;
    let rewritten = 0;
    for (;;) {
      const { count, last, full } = await this.transaction(async (tx) => {
        const rows = await page(tx, after);
        let count = 0;
        for (const row of rows) {
          const next = await fn(row);
          if (next !== null && (await write(tx, row.id, next))) count++;
        }
        return { count, last: rows[rows.length - 1]?.id ?? null, full: rows.length === batchSize };
      });
      rewritten += count;
      if (!full || last === null) return rewritten;
      after = last;
    }
  }
}

/**
 * Every Repository method on the store itself is one transaction of its own: `store.getPatient(id)` is
 * `store.transaction((tx) => tx.getPatient(id))`. The methods are put on the prototype from the composed
 * repository's own keys, so a method added to an aggregate is on the store too, with nothing to write here.
 */
const REPOSITORY_METHODS = Object.keys(sqlRepository(unconnected())) as (keyof Repository)[];
for (const name of REPOSITORY_METHODS) {
  Object.defineProperty(TransactionalStore.prototype, name, {
    value(this: TransactionalStore, ...args: unknown[]): Promise<unknown> {
      return this.transaction((tx) => (tx[name] as (...a: unknown[]) => Promise<unknown>)(...args));
    },
    writable: true,
    configurable: true,
  });
}

/** An executor that only lists the repository's methods: running anything on it is a bug. */
function unconnected(): SqlExecutor {
  const refuse = (): never => {
    throw new Error('the method list has no connection');
  };
  return { engine: 'sqlite', all: refuse, run: refuse, exec: refuse };
}

/** A transaction's connection that refuses use after the transaction ended (a leaked `tx`). */
class ScopedExecutor implements SqlExecutor {
  closed = false;
  readonly engine: 'sqlite' | 'postgres';

  constructor(private readonly inner: SqlExecutor) {
    this.engine = inner.engine;
  }

  private check(): void {
    if (this.closed) throw new Error('transaction already finished: a tx cannot be used after transaction() returns');
  }
  all<R>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    this.check();
    return this.inner.all<R>(sql, params);
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    this.check();
    return this.inner.run(sql, params);
  }
  exec(sql: string): Promise<void> {
    this.check();
    return this.inner.exec(sql);
  }
}

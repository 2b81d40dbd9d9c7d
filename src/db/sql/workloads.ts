// Storage of workload objects (services, pods): the rows behind /v1/services and /v1/pods. The
// SqlStorage exposes one of these as `storage.workloads`.
import type { Kysely } from 'kysely';
import type { Workload } from '../../objects/models.ts';
import type { NewWorkload, PageRequest, Scope, WorkloadStorage } from '../api.ts';
import { DuplicateWorkload, isUniqueViolation } from '../errors.ts';
import type { Connection } from './connection.ts';
import { paginate } from './paginate.ts';
import { withinScope } from './scope.ts';
import { fromRow, toRow } from './rows.ts';

const TABLE = 'cluster_workload';

export { DuplicateWorkload };


export class WorkloadStore implements WorkloadStorage {
  readonly #conn: Connection;
  readonly #db: Kysely<any>;

  constructor(conn: Connection) {
    this.#conn = conn;
    this.#db = conn.db;
  }

  #out(row: unknown): Workload {
    return fromRow<Workload>(TABLE, row as Record<string, unknown>);
  }

  async create(values: NewWorkload): Promise<Workload> {
    const row = toRow(this.#conn, TABLE, { created_at: new Date(), updated_at: null, backend_id: null, ...values });
    try {
      await this.#db.insertInto(TABLE).values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new DuplicateWorkload((e as Error).message);
      throw e;
    }
    return (await this.get(values.uuid))!;
  }

  async get(uuid: string): Promise<Workload | null> {
    const row = await this.#db.selectFrom(TABLE).selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? this.#out(row) : null;
  }

  /** By uuid or name, within the scope (and the cluster, when given); at most two rows. */
  async find(kind: Workload['kind'], scope: Scope, by: { uuid?: string; name?: string }, clusterUuid?: string): Promise<Workload[]> {
    let q = this.#db.selectFrom(TABLE).selectAll().where('kind', '=', kind);
    if (by.uuid !== undefined) q = q.where('uuid', '=', by.uuid.toLowerCase());
    if (by.name !== undefined) q = q.where('name', '=', by.name);
    if (clusterUuid !== undefined) q = q.where('cluster_id', '=', clusterUuid);
    q = withinScope(q, scope);
    return (await q.limit(2).execute()).map((r) => this.#out(r));
  }

  async list(kind: Workload['kind'], scope: Scope, page: PageRequest, clusterUuid?: string): Promise<Workload[]> {
    let q = this.#db.selectFrom(TABLE).selectAll().where('kind', '=', kind);
    q = withinScope(q, scope);
    if (clusterUuid !== undefined) q = q.where('cluster_id', '=', clusterUuid);
    return (await paginate(this.#conn, q, TABLE, page).execute()).map((r) => this.#out(r));
  }

  /** Every workload of a kind (all projects), oldest first: the conductor's reconciliation. */
  async listAll(kind: Workload['kind'], limit = 10_000): Promise<Workload[]> {
    const rows = await this.#db.selectFrom(TABLE).selectAll().where('kind', '=', kind).orderBy('id').limit(limit).execute();
    return rows.map((r) => this.#out(r));
  }

  async update(uuid: string, changes: Partial<Pick<Workload, 'manifest' | 'backend_id'>>): Promise<Workload | null> {
    await this.#db.updateTable(TABLE).set(toRow(this.#conn, TABLE, { ...changes, updated_at: new Date() })).where('uuid', '=', uuid).execute();
    return this.get(uuid);
  }

  async destroy(uuid: string): Promise<void> {
    await this.#db.deleteFrom(TABLE).where('uuid', '=', uuid).execute();
  }

  async count(): Promise<number> {
    const r = await this.#db.selectFrom(TABLE).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    return Number(r?.n ?? 0);
  }
}

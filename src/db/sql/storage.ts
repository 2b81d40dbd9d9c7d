import { sql, type Compilable, type CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type {
  Cluster, ClusterEvent, ClusterResource, ClusterTemplate, Container, ImageLoad, MagnumService, NodeGroup, Operation, Quota, X509KeyPair,
} from '../../objects/models.ts';
import { TASK_KINDS, type ClusterStatus } from '../../objects/fields.ts';
import type { ClusterCreate, ClusterView, ClusterWithTemplateLabels, NodeGroupSummary, IdentLookup, NewOperation, NewWorkload, OperationFinish, OperationStart, Scope, StepOutcome, Storage } from '../api.ts';
import { DEADLOCK_RETRIES, DuplicateWorkload, UniqueViolation, deadlockPause, isDeadlock, isUniqueViolation } from '../errors.ts';
import type { PgChangeFeed } from './change-feed.ts';
import { connect, type Connection } from './connection.ts';
import { check, migrator } from './migrations/index.ts';
import { COUNT_TABLE } from './migrations/009-cluster-counts.ts';
import { paginate, type PageRequest } from './paginate.ts';
import { projectOf } from '../../common/scope.ts';
import { withinScope } from './scope.ts';
import { COLUMNS, fromRow, toRow, type TableName } from './rows.ts';
import { WorkloadStore } from './workloads.ts';
import { BatchLoad } from '../../common/batch-load.ts';

type QuotaUsage = { hardLimit: number | null; count: number };

export { UniqueViolation };

/** A parameter of a query compiled once (#runCompiled): '\u0000name' stands for values[name]. */
const PARAM = '\u0000';
const param = (name: string) => `${PARAM}${name}`;
/** The nodegroup columns of a joined cluster view, aliased so they do not clash with the cluster's. */
const NG_ALIAS = 'ng__';
/** What the cluster list views read of each nodegroup (aggregate(): counts and addresses). */
const NG_SUMMARY_COLUMNS = ['cluster_id', 'role', 'node_count', 'node_addresses'] as const;
export type { ClusterWithTemplateLabels };

/** Thrown inside a transaction to roll it back and report a refusal. */
class Refused extends Error {}

export class SqlStorage implements Storage {
  readonly conn: Connection;
  readonly #db: Kysely<any>;
  /** Services and pods made through the API (src/db/sql/workloads.ts). */
  readonly workloads: WorkloadStore;
  /** Hot queries, built and compiled once per process (and prepared once per connection on PostgreSQL). */
  readonly #compiled = new Map<string, CompiledQuery>();

  constructor(conn: Connection) {
    this.conn = conn;
    this.#db = conn.db;
    this.workloads = new WorkloadStore(conn);
  }

  /**
   * Runs `fn` in one transaction; a transaction the server rolled back as a deadlock victim is run
   * again from the start (a few times, after a short random pause), so callers never see one.
   */
  async #transaction<T>(fn: (tx: Transaction<any>) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#db.transaction().execute(fn);
      } catch (err) {
        if (!isDeadlock(err) || attempt >= DEADLOCK_RETRIES) throw err;
        await deadlockPause(attempt);
      }
    }
  }

  static open(url: string, opts: { poolSize?: number; baseDir?: string } = {}): SqlStorage {
    return new SqlStorage(connect(url, opts));
  }

  async migrate(): Promise<string[]> {
    const result = await migrator(this.#db, this.conn.dialect).migrateToLatest();
    check(result);
    return (result.results ?? []).map((r) => r.migrationName);
  }

  async migrateDown(steps = 1): Promise<void> {
    for (let i = 0; i < steps; i++) check(await migrator(this.#db, this.conn.dialect).migrateDown());
  }

  async version(): Promise<string | null> {
    const all = await migrator(this.#db, this.conn.dialect).getMigrations();
    const applied = all.filter((m) => m.executedAt);
    return applied.length ? applied[applied.length - 1].name : null;
  }

  close(): Promise<void> {
    return this.conn.destroy();
  }

  /** The database's announcements of changed clusters, nodegroups and templates; null where it makes none (SQLite, MariaDB). */
  openChangeFeed(opts: { onError?: (reason: string) => void; windowMs?: number } = {}): PgChangeFeed | null {
    return this.conn.openChangeFeed?.(opts) ?? null;
  }

  // ---- generic helpers -------------------------------------------------------------------------

  #insertValues(table: TableName, values: Record<string, unknown>, now: Date) {
    return toRow(this.conn, table, { created_at: now, updated_at: null, ...values });
  }

  async #insert<T>(db: Kysely<any>, table: TableName, values: Record<string, unknown>): Promise<T> {
    const now = new Date();
    const row = this.#insertValues(table, values, now);
    try {
      if (this.conn.dialect === 'mysql') {
        const res = await db.insertInto(table).values(row).executeTakeFirst();
        const id = Number(res.insertId);
        return fromRow<T>(table, (await db.selectFrom(table).selectAll().where('id', '=', id).executeTakeFirstOrThrow()) as Record<string, unknown>);
      }
      const out = await db.insertInto(table).values(row).returningAll().executeTakeFirstOrThrow();
      return fromRow<T>(table, out as Record<string, unknown>);
    } catch (e) {
      if (isUniqueViolation(e)) throw new UniqueViolation((e as Error).message);
      throw e;
    }
  }

  /**
   * Rows inserted in one statement when they give the same columns (else one each: a multi-row
   * INSERT fills a column some rows leave out with NULL on SQLite, not with its default); nothing
   * read back (no RETURNING).
   */
  async #insertRows(db: Kysely<any>, table: TableName, rows: Record<string, unknown>[]): Promise<void> {
    if (!rows.length) return;
    const now = new Date();
    const values = rows.map((r) => this.#insertValues(table, r, now));
    const columns = (v: Record<string, unknown>) => Object.keys(v).sort().join(',');
    const same = values.every((v) => columns(v) === columns(values[0]));
    try {
      if (same) await db.insertInto(table).values(values).execute();
      else for (const v of values) await db.insertInto(table).values(v).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new UniqueViolation((e as Error).message);
      throw e;
    }
  }

  async #update<T>(db: Kysely<any>, table: TableName, key: { col: string; value: unknown }, changes: Record<string, unknown>): Promise<T | null> {
    const row = toRow(this.conn, table, { ...changes, updated_at: new Date() });
    await db.updateTable(table).set(row).where(key.col, '=', key.value).execute();
    const out = await db.selectFrom(table).selectAll().where(key.col, '=', key.value).executeTakeFirst();
    return out ? fromRow<T>(table, out as Record<string, unknown>) : null;
  }

  #rows<T>(table: TableName, rows: unknown[]): T[] {
    return rows.map((r) => fromRow<T>(table, r as Record<string, unknown>));
  }

  /**
   * Runs a query that is built and compiled once per `key`: `build` gives its parameters as
   * param(name) placeholders, replaced by values[name] on every run. The SQL text never changes, so
   * PostgreSQL prepares it once per connection (Connection.keepPrepared).
   */
  async #runCompiled(key: string, build: () => Compilable<unknown>, values: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    let compiled = this.#compiled.get(key);
    if (!compiled) {
      compiled = build().compile();
      this.#compiled.set(key, compiled);
      this.conn.keepPrepared(compiled.sql);
    }
    const parameters = compiled.parameters.map((p) => (typeof p === 'string' && p.startsWith(PARAM) ? values[p.slice(PARAM.length)] : p));
    return (await this.#db.executeQuery<Record<string, unknown>>({ ...compiled, parameters })).rows;
  }

  /**
   * A page of a list, its query compiled once per shape (all projects or one, sort key and
   * direction, first page or after a marker): the project, the limit and the marker's id are its
   * parameters. A sort key that is no column of the table (no shape to keep) is built each time.
   */
  async #listPage(name: string, table: 'cluster' | 'cluster_template', scope: Scope, page: PageRequest, build: (scope: Scope, page: PageRequest) => Compilable<unknown>): Promise<Record<string, unknown>[]> {
    const projectId = projectOf(scope);
    const marker = page.marker as { id?: unknown } | null | undefined;
    if (!COLUMNS[table].includes(page.sortKey)) return (await this.#db.executeQuery<Record<string, unknown>>(build(scope, page))).rows;
    const key = `${name}:${projectId === null ? 'all' : 'project'}:${page.sortKey}:${page.sortDir}:${marker ? 'after' : 'first'}`;
    const shape: PageRequest = { ...page, limit: param('limit') as unknown as number, marker: marker ? { id: param('marker') } : undefined };
    return this.#runCompiled(key, () => build(projectId === null ? scope : { kind: 'project', projectId: param('project') }, shape),
      { project: projectId, limit: page.limit, marker: marker?.id });
  }

  // ---- cluster templates -----------------------------------------------------------------------

  createClusterTemplate(values: Partial<ClusterTemplate>): Promise<ClusterTemplate> {
    return this.#insert(this.#db, 'cluster_template', values);
  }

  #templateVisible(scope: Scope, forList: boolean) {
    const projectId = projectOf(scope);
    return (qb: any) => {
      if (projectId === null) return qb;
      return qb.where((eb: any) =>
        eb.or([
          eb('project_id', '=', projectId),
          forList
            ? eb.and([eb('public', '=', this.conn.bool(true)), eb('hidden', '=', this.conn.bool(false))])
            : eb('public', '=', this.conn.bool(true)),
        ]),
      );
    };
  }

  async findClusterTemplates(scope: Scope, by: IdentLookup): Promise<ClusterTemplate[]> {
    let q = this.#db.selectFrom('cluster_template').selectAll();
    if (by.uuid !== undefined) q = q.where('uuid', '=', by.uuid.toLowerCase());
    if (by.name !== undefined) q = q.where('name', '=', by.name);
    if (by.id !== undefined) q = q.where('id', '=', by.id);
    q = this.#templateVisible(scope, false)(q);
    return this.#rows('cluster_template', await q.limit(2).execute());
  }

  async listClusterTemplates(scope: Scope, page: PageRequest): Promise<ClusterTemplate[]> {
    return this.#rows('cluster_template', await this.#listPage('listClusterTemplates', 'cluster_template', scope, page, (sc, pg) =>
      paginate(this.conn, this.#templateVisible(sc, true)(this.#db.selectFrom('cluster_template').selectAll()), 'cluster_template', pg)));
  }

  async updateClusterTemplate(uuid: string, changes: Partial<ClusterTemplate>): Promise<ClusterTemplate> {
    return (await this.#update<ClusterTemplate>(this.#db, 'cluster_template', { col: 'uuid', value: uuid }, changes))!;
  }

  async deleteClusterTemplateIfUnused(uuid: string): Promise<boolean> {
    return this.#transaction(async (tx) => {
      const used = await tx.selectFrom('cluster').select('id').where('cluster_template_id', '=', uuid).limit(1).execute();
      if (used.length) return false;
      await tx.deleteFrom('cluster_template').where('uuid', '=', uuid).execute();
      return true;
    });
  }

  async isClusterTemplateReferenced(uuid: string): Promise<boolean> {
    const used = await this.#db.selectFrom('cluster').select('id').where('cluster_template_id', '=', uuid).limit(1).execute();
    return used.length > 0;
  }

  async getClusterTemplateByUuid(uuid: string): Promise<ClusterTemplate | null> {
    const row = await this.#db.selectFrom('cluster_template').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? fromRow('cluster_template', row) : null;
  }

  async getClusterTemplatesByUuids(uuids: string[]): Promise<ClusterTemplate[]> {
    if (!uuids.length) return [];
    return this.#rows('cluster_template', await this.#db.selectFrom('cluster_template').selectAll().where('uuid', 'in', uuids).execute());
  }

  // ---- clusters --------------------------------------------------------------------------------

  async findClusters(scope: Scope, by: IdentLookup): Promise<Cluster[]> {
    let q = this.#db.selectFrom('cluster').selectAll();
    if (by.uuid !== undefined) q = q.where('uuid', '=', by.uuid.toLowerCase());
    if (by.name !== undefined) q = q.where('name', '=', by.name);
    if (by.id !== undefined) q = q.where('id', '=', by.id);
    q = withinScope(q, scope);
    return this.#rows('cluster', await q.limit(2).execute());
  }

  async getClusterByUuid(uuid: string): Promise<Cluster | null> {
    const row = await this.#db.selectFrom('cluster').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? fromRow('cluster', row) : null;
  }

  async listClusters(scope: Scope, page: PageRequest): Promise<Cluster[]> {
    return this.#rows('cluster', await this.#listPage('listClusters', 'cluster', scope, page, (sc, pg) =>
      paginate(this.conn, withinScope(this.#db.selectFrom('cluster').selectAll(), sc), 'cluster', pg)));
  }

  /**
   * Clusters (at most 2: an ambiguous name is the caller's 409) with their template's labels and
   * their nodegroups, in one query compiled once: the cluster row, filtered and limited in a
   * derived table, joined to its template and to its nodegroups (one row per nodegroup).
   */
  async findClustersForView(scope: Scope, by: { uuid?: string; name?: string }): Promise<ClusterView[]> {
    const projectId = projectOf(scope);
    const byUuid = by.uuid !== undefined;
    const key = `findClustersForView:${byUuid ? 'uuid' : 'name'}:${projectId === null ? 'all' : 'project'}`;
    const rows = await this.#runCompiled(key, () => {
      let inner = this.#db.selectFrom('cluster').selectAll().where(byUuid ? 'uuid' : 'name', '=', param('ident'));
      if (projectId !== null) inner = inner.where('project_id', '=', param('project'));
      return this.#db.selectFrom(inner.limit(2).as('c'))
        .leftJoin('cluster_template as t', 't.uuid', 'c.cluster_template_id')
        .leftJoin('nodegroup as ng', 'ng.cluster_id', 'c.uuid')
        .selectAll('c').select('t.labels as template_labels')
        .select(COLUMNS.nodegroup.map((col) => `ng.${col} as ${NG_ALIAS}${col}`))
        .orderBy('c.id').orderBy('ng.id');
    }, { ident: byUuid ? by.uuid!.toLowerCase() : by.name, project: projectId });
    const out: ClusterView[] = [];
    const labels = this.#labelsParser();
    for (const row of rows) {
      const cluster: Record<string, unknown> = {};
      const ng: Record<string, unknown> = {};
      for (const k in row) {
        if (k.startsWith(NG_ALIAS)) ng[k.slice(NG_ALIAS.length)] = row[k];
        else cluster[k] = row[k];
      }
      let last = out[out.length - 1];
      if (!last || last.uuid !== cluster.uuid) {
        const { template_labels, ...rest } = cluster;
        last = Object.assign(fromRow<Cluster>('cluster', rest), { template_labels: labels(template_labels), nodegroups: [] as NodeGroup[] });
        out.push(last);
      }
      if (ng.id !== null && ng.id !== undefined) last.nodegroups.push(fromRow<NodeGroup>('nodegroup', ng));
    }
    return out;
  }

  /** Parses template labels, each distinct text once (a page of clusters mostly shares a few templates). */
  #labelsParser(): (text: unknown) => Record<string, string> | null {
    const seen = new Map<string, Record<string, string>>();
    return (text) => {
      if (!text) return null;
      const s = String(text);
      let v = seen.get(s);
      if (!v) {
        v = (JSON.parse(s) ?? {}) as Record<string, string>;
        seen.set(s, v);
      }
      return v;
    };
  }

  async listClustersForView(scope: Scope, page: PageRequest): Promise<ClusterWithTemplateLabels[]> {
    return this.#withTemplateLabels(await this.#listPage('listClustersForView', 'cluster', scope, page, (sc, pg) => {
      const q = this.#db.selectFrom('cluster').leftJoin('cluster_template', 'cluster_template.uuid', 'cluster.cluster_template_id')
        .selectAll('cluster').select('cluster_template.labels as template_labels');
      return paginate(this.conn, withinScope(q, sc, 'cluster.project_id'), 'cluster', pg);
    }));
  }

  #withTemplateLabels(rows: unknown[]): ClusterWithTemplateLabels[] {
    const labels = this.#labelsParser();
    return rows.map((r) => {
      const { template_labels, ...rest } = r as Record<string, unknown>;
      return Object.assign(fromRow<Cluster>('cluster', rest), { template_labels: labels(template_labels) });
    });
  }

  async countClusters(projectId: string): Promise<number> {
    const r = await this.#db.selectFrom('cluster').select((eb) => eb.fn.countAll().as('n')).where('project_id', '=', projectId).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Concurrent callers' projects are read in one query (src/common/batch-load.ts): the API reads this for every create. */
  clusterQuotaUsage(projectId: string): Promise<QuotaUsage> {
    return this.#quotaUsage.load(projectId);
  }

  readonly #quotaUsage = new BatchLoad<string, QuotaUsage>(async (projects) => {
    // MariaDB compares project ids by its collation (case-insensitively), which a batch could not
    // match back to the ids asked for: there each project is read on its own.
    if (projects.length === 1 || this.conn.dialect === 'mysql') {
      return new Map(await Promise.all(projects.map(async (p) => [p, await this.#oneQuotaUsage(p)] as const)));
    }
    // The counts (kept per project by the database: migration 009) and the limits of all of them, in one statement.
    const rows = await this.#db.selectFrom(COUNT_TABLE)
      .select(['project_id', sql<string>`'n'`.as('k'), 'clusters as v'])
      .where('project_id', 'in', projects)
      .unionAll(this.#db.selectFrom('quotas').select(['project_id', sql<string>`'q'`.as('k'), 'hard_limit as v'])
        .where('resource', '=', 'Cluster').where('project_id', 'in', projects))
      .execute();
    const out = new Map<string, QuotaUsage>(projects.map((p) => [p, { hardLimit: null, count: 0 }]));
    for (const r of rows as { project_id: string; k: string; v: unknown }[]) {
      const u = out.get(r.project_id);
      if (!u) continue;
      if (r.k === 'n') u.count = Number(r.v ?? 0);
      else u.hardLimit = r.v === null || r.v === undefined ? null : Number(r.v);
    }
    return out;
  });

  async #oneQuotaUsage(projectId: string): Promise<QuotaUsage> {
    const [row] = await this.#runCompiled('clusterQuotaUsage', () => this.#db.selectNoFrom((eb) => [
      eb.selectFrom('quotas').select('hard_limit').where('project_id', '=', param('project')).where('resource', '=', 'Cluster').limit(1).as('hard_limit'),
      eb.selectFrom(COUNT_TABLE).select('clusters').where('project_id', '=', param('project')).limit(1).as('n'),
    ]), { project: projectId });
    return { hardLimit: row.hard_limit === null || row.hard_limit === undefined ? null : Number(row.hard_limit), count: Number(row.n ?? 0) };
  }

  async clusterStats(scope: Scope): Promise<{ clusters: number; nodes: number }> {
    const cq = withinScope(this.#db.selectFrom('cluster').select((eb) => eb.fn.countAll().as('n')), scope);
    const nq = withinScope(this.#db.selectFrom('nodegroup').select((eb) => eb.fn.sum('node_count').as('n')), scope);
    const [c, n] = await Promise.all([cq.executeTakeFirst(), nq.executeTakeFirst()]);
    return { clusters: Number(c?.n ?? 0), nodes: Number(n?.n ?? 0) };
  }

  /** The cluster, its nodegroups, its first operation and (given) that operation's first event, in one write. */
  async createClusterWithOperation(cluster: Partial<Cluster>, nodegroups: Partial<NodeGroup>[], op: NewOperation, event?: Omit<ClusterEvent, 'id' | 'created_at'>): Promise<Cluster> {
    await this.createClustersWithOperations([{ cluster, nodegroups, op, event }]);
    return (await this.getClusterByUuid(String(cluster.uuid)))!;
  }

  async createClustersWithOperations(creates: ClusterCreate[]): Promise<void> {
    if (!creates.length) return;
    const now = new Date();
    // In project order: each insert takes its project's count row (migration 009), so two batches
    // of several projects take them in the same order and never deadlock.
    creates = [...creates].sort((a, b) => compareProjects(a.cluster.project_id, b.cluster.project_id));
    const rows = {
      cluster: creates.map((c) => this.#insertValues('cluster', c.cluster, now)),
      nodegroup: creates.flatMap((c) => c.nodegroups.map((n) => this.#insertValues('nodegroup', n, now))),
      operation: creates.map((c) => this.#insertValues('operation', { ...c.op, state: 'pending', attempts: 0 }, now)),
      cluster_event: creates.flatMap((c) => (c.event ? [toRow(this.conn, 'cluster_event', { ...c.event, created_at: now })] : [])),
    };
    const columns = (v: Record<string, unknown>) => Object.keys(v).sort().join(',');
    const uniform = Object.values(rows).every((list) => list.every((v) => columns(v) === columns(list[0])));
    try {
      if (this.conn.dialect === 'postgres' && uniform) {
        // One statement, so one round trip and no BEGIN/COMMIT: a statement is atomic on its own,
        // and the foreign keys between its data-modifying WITH parts are checked at its end.
        let q = this.#db.with('o', (db) => db.insertInto('operation').values(rows.operation));
        if (rows.nodegroup.length) q = q.with('n', (db) => db.insertInto('nodegroup').values(rows.nodegroup));
        if (rows.cluster_event.length) q = q.with('e', (db) => db.insertInto('cluster_event').values(rows.cluster_event));
        await q.insertInto('cluster').values(rows.cluster).execute();
        return;
      }
      await this.#transaction(async (tx) => {
        for (const table of ['cluster', 'nodegroup', 'operation', 'cluster_event'] as const) {
          const list = rows[table];
          if (!list.length) continue;
          if (list.every((v) => columns(v) === columns(list[0]))) await tx.insertInto(table).values(list).execute();
          else for (const v of list) await tx.insertInto(table).values(v).execute();
        }
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new UniqueViolation((e as Error).message);
      throw e;
    }
  }

  /**
   * Start an operation on an existing cluster: move the cluster to `clusterStatus` only if it is in
   * one of `allowed` and no other operation is active on it; apply the nodegroup changes; insert the
   * operation row. All or nothing. Returns false when the cluster was not in an allowed state.
   */
  async startOperation(start: OperationStart): Promise<boolean> {
    return this.#startOperation(start).catch((e) => {
      if (e instanceof Refused) return false;
      throw e;
    });
  }

  #startOperation(start: OperationStart): Promise<boolean> {
    return this.#transaction(async (tx) => {
      await this.#lockCluster(tx, start.clusterUuid);
      if (start.supersede) {
        // By uuid, not by a (cluster_id, state) range: InnoDB would lock the state index of other
        // clusters' operations too and deadlock with claimOperation. Under the cluster lock no
        // operation of this cluster is added meanwhile.
        const active = await tx.selectFrom('operation').select('uuid')
          .where('cluster_id', '=', start.clusterUuid).where('state', 'in', ['pending', 'running']).execute();
        if (active.length) {
          await tx.updateTable('operation')
            .set(toRow(this.conn, 'operation', { state: 'failed', last_error: start.supersede, updated_at: new Date() }))
            .where('uuid', 'in', active.map((o) => o.uuid as string)).where('state', 'in', ['pending', 'running']).execute();
        }
      } else {
        // Task operations (containers, services) run beside a lifecycle operation.
        const active = await tx.selectFrom('operation').select('uuid')
          .where('cluster_id', '=', start.clusterUuid).where('state', 'in', ['pending', 'running'])
          .where('kind', 'not in', [...TASK_KINDS]).limit(1).execute();
        if (active.length) return false;
      }
      const res = await tx.updateTable('cluster')
        .set(toRow(this.conn, 'cluster', { ...(start.clusterChanges ?? {}), status: start.clusterStatus, status_reason: null, updated_at: new Date() }))
        .where('uuid', '=', start.clusterUuid)
        .where('status', 'in', start.allowed as string[])
        .executeTakeFirst();
      // Refused after superseding: roll that back (returning false would commit it).
      if (Number(res.numUpdatedRows) !== 1) throw new Refused();
      for (const ng of start.nodegroupInserts ?? []) await this.#insert(tx, 'nodegroup', ng);
      for (const [uuid, changes] of Object.entries(start.nodegroupChanges ?? {})) {
        await tx.updateTable('nodegroup').set(toRow(this.conn, 'nodegroup', { ...changes, updated_at: new Date() })).where('uuid', '=', uuid).execute();
      }
      await this.#insertOperation(tx, start.operation);
      return true;
    });
  }

  async startTaskOperation(op: NewOperation, rows: { container?: Partial<Container> & { uuid: string; cluster_id: string }; workload?: NewWorkload } = {}): Promise<boolean> {
    return this.#transaction(async (tx) => {
      await this.#lockCluster(tx, op.cluster_id);
      const cluster = await tx.selectFrom('cluster').select('status').where('uuid', '=', op.cluster_id).executeTakeFirst();
      if (!cluster || cluster.status === 'DELETE_IN_PROGRESS') return false;
      if (rows.container) await this.#insert(tx, 'container', this.#containerIn(rows.container));
      if (rows.workload) {
        try {
          await this.#insert(tx, 'cluster_workload', { backend_id: null, ...rows.workload, updated_at: null });
        } catch (e) {
          if (e instanceof UniqueViolation) throw new DuplicateWorkload(e.message);
          throw e;
        }
      }
      await this.#insertOperation(tx, op);
      return true;
    });
  }

  async setClusterHealth(uuid: string, before: Pick<Cluster, 'health_status' | 'health_status_reason'>, after: Pick<Cluster, 'health_status' | 'health_status_reason'>): Promise<boolean> {
    const was = toRow(this.conn, 'cluster', { health_status: before.health_status, health_status_reason: before.health_status_reason });
    let q = this.#db.updateTable('cluster').set(toRow(this.conn, 'cluster', { ...after, updated_at: new Date() })).where('uuid', '=', uuid);
    q = was.health_status === null || was.health_status === undefined ? q.where('health_status', 'is', null) : q.where('health_status', '=', was.health_status);
    // An empty reason reads back as {} whether it is stored NULL or '{}'.
    q = was.health_status_reason === null || was.health_status_reason === undefined || was.health_status_reason === '{}'
      ? q.where((eb) => eb.or([eb('health_status_reason', 'is', null), eb('health_status_reason', '=', '{}')]))
      : q.where('health_status_reason', '=', was.health_status_reason);
    return Number((await q.executeTakeFirst()).numUpdatedRows) === 1;
  }

  async updateCluster(uuid: string, changes: Partial<Cluster>): Promise<Cluster | null> {
    return this.#update<Cluster>(this.#db, 'cluster', { col: 'uuid', value: uuid }, changes);
  }

  /** Removes the cluster row with its nodegroups, operations and events. */
  async destroyCluster(uuid: string): Promise<void> {
    await this.#transaction(async (tx) => {
      await tx.deleteFrom('nodegroup').where('cluster_id', '=', uuid).execute();
      await tx.deleteFrom('cluster_event').where('cluster_id', '=', uuid).execute();
      await tx.deleteFrom('operation').where('cluster_id', '=', uuid).execute();
      await tx.deleteFrom('cluster_resource').where('cluster_id', '=', uuid).execute();
      await tx.deleteFrom('container').where('cluster_id', '=', uuid).execute();
      await tx.deleteFrom('cluster_workload').where('cluster_id', '=', uuid).execute();
      await tx.deleteFrom('image_load').where('cluster_id', '=', uuid).execute();
      await tx.deleteFrom('cluster').where('uuid', '=', uuid).execute();
    });
  }

  // ---- nodegroups ------------------------------------------------------------------------------

  async listNodeGroupsOf(clusterUuids: string[]): Promise<NodeGroup[]> {
    if (!clusterUuids.length) return [];
    const rows = await this.#db.selectFrom('nodegroup').selectAll().where('cluster_id', 'in', clusterUuids).orderBy('id').execute();
    return this.#rows('nodegroup', rows);
  }

  async listNodeGroupSummariesOf(clusterUuids: string[]): Promise<NodeGroupSummary[]> {
    if (!clusterUuids.length) return [];
    const rows = await this.#db.selectFrom('nodegroup').select([...NG_SUMMARY_COLUMNS]).where('cluster_id', 'in', clusterUuids).orderBy('id').execute();
    return rows.map((r) => ({
      cluster_id: r.cluster_id as string,
      role: r.role as string,
      node_count: Number(r.node_count),
      node_addresses: r.node_addresses ? ((JSON.parse(String(r.node_addresses)) ?? []) as string[]) : [],
    }));
  }

  async listNodeGroups(clusterUuid: string, scope: Scope, page: PageRequest, role?: string): Promise<NodeGroup[]> {
    let q = this.#db.selectFrom('nodegroup').selectAll().where('cluster_id', '=', clusterUuid);
    q = withinScope(q, scope);
    if (role !== undefined) q = q.where('role', '=', role);
    return this.#rows('nodegroup', await paginate(this.conn, q, 'nodegroup', page).execute());
  }

  async findNodeGroups(clusterUuid: string, scope: Scope, by: IdentLookup): Promise<NodeGroup[]> {
    let q = this.#db.selectFrom('nodegroup').selectAll().where('cluster_id', '=', clusterUuid);
    q = withinScope(q, scope);
    if (by.uuid !== undefined) q = q.where('uuid', '=', by.uuid.toLowerCase());
    if (by.name !== undefined) q = q.where('name', '=', by.name);
    if (by.id !== undefined) q = q.where('id', '=', by.id);
    return this.#rows('nodegroup', await q.limit(2).execute());
  }

  async updateNodeGroup(uuid: string, changes: Partial<NodeGroup>): Promise<NodeGroup | null> {
    return this.#update<NodeGroup>(this.#db, 'nodegroup', { col: 'uuid', value: uuid }, changes);
  }

  async destroyNodeGroup(uuid: string): Promise<void> {
    await this.#db.deleteFrom('nodegroup').where('uuid', '=', uuid).execute();
  }

  // ---- quotas ----------------------------------------------------------------------------------

  createQuota(values: Partial<Quota>): Promise<Quota> {
    return this.#insert(this.#db, 'quotas', values);
  }

  async getQuota(projectId: string, resource: string): Promise<Quota | null> {
    const row = await this.#db.selectFrom('quotas').selectAll().where('project_id', '=', projectId).where('resource', '=', resource).executeTakeFirst();
    return row ? fromRow('quotas', row) : null;
  }

  async getQuotaById(id: number): Promise<Quota | null> {
    const row = await this.#db.selectFrom('quotas').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? fromRow('quotas', row) : null;
  }

  async listQuotas(scope: Scope, page: PageRequest): Promise<Quota[]> {
    const q = withinScope(this.#db.selectFrom('quotas').selectAll(), scope);
    return this.#rows('quotas', await paginate(this.conn, q, 'quotas', page).execute());
  }

  async updateQuota(id: number, changes: Partial<Quota>): Promise<Quota> {
    return (await this.#update<Quota>(this.#db, 'quotas', { col: 'id', value: id }, changes))!;
  }

  async deleteQuota(id: number): Promise<void> {
    await this.#db.deleteFrom('quotas').where('id', '=', id).execute();
  }

  // ---- magnum services -------------------------------------------------------------------------

  async reportServiceUp(host: string, binary: string): Promise<void> {
    const now = new Date();
    const res = await this.#db.updateTable('magnum_service')
      .set({ report_count: sql`report_count + 1`, last_seen_up: this.conn.time(now), updated_at: this.conn.time(now) })
      .where('host', '=', host).where('binary', '=', binary).executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) return;
    try {
      await this.#insert(this.#db, 'magnum_service', { host, binary, report_count: 1, last_seen_up: now, disabled: false, forced_down: false });
    } catch (e) {
      if (!(e instanceof UniqueViolation)) throw e;
      // Another caller inserted the row first: count this report on it.
      await this.#db.updateTable('magnum_service')
        .set({ report_count: sql`report_count + 1`, last_seen_up: this.conn.time(now), updated_at: this.conn.time(now) })
        .where('host', '=', host).where('binary', '=', binary).execute();
    }
  }

  async listServices(): Promise<MagnumService[]> {
    return this.#rows('magnum_service', await this.#db.selectFrom('magnum_service').selectAll().orderBy('id').execute());
  }

  // ---- x509 key pairs --------------------------------------------------------------------------

  createX509KeyPair(values: Partial<X509KeyPair>): Promise<X509KeyPair> {
    return this.#insert(this.#db, 'x509keypair', values);
  }

  async getX509KeyPair(uuid: string): Promise<X509KeyPair | null> {
    const row = await this.#db.selectFrom('x509keypair').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? fromRow('x509keypair', row) : null;
  }

  async deleteX509KeyPair(uuid: string): Promise<void> {
    await this.#db.deleteFrom('x509keypair').where('uuid', '=', uuid).execute();
  }

  // ---- operations ------------------------------------------------------------------------------

  /**
   * Every transaction that writes a cluster's operations row-locks the cluster first: one lock
   * order (cluster, then operations and nodegroups), so no deadlocks, and the statements after it
   * see what the previous holder committed (PostgreSQL READ COMMITTED, InnoDB current reads).
   * SQLite needs none: its transactions begin IMMEDIATE and so run one at a time.
   */
  async #lockCluster(tx: Transaction<any>, uuid: string): Promise<void> {
    if (this.conn.dialect === 'sqlite') return;
    await tx.selectFrom('cluster').select('id').where('uuid', '=', uuid).forUpdate().execute();
  }

  async #insertOperation(tx: Transaction<any> | Kysely<any>, op: NewOperation): Promise<void> {
    await this.#insert(tx, 'operation', { ...op, state: 'pending', attempts: 0 });
  }

  async getOperation(uuid: string): Promise<Operation | null> {
    const row = await this.#db.selectFrom('operation').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? fromRow('operation', row) : null;
  }

  async listOperations(clusterUuid: string): Promise<Operation[]> {
    return this.#rows('operation', await this.#db.selectFrom('operation').selectAll().where('cluster_id', '=', clusterUuid).orderBy('id').execute());
  }

  /** Take an operation nobody holds (or whose holder's lease ran out). True if this owner got it. */
  async claimOperation(uuid: string, owner: string, leaseUntil: Date, now: Date): Promise<boolean> {
    const res = await this.#db.updateTable('operation')
      .set({ owner, lease_expires_at: this.conn.time(leaseUntil), state: 'running', attempts: sql`attempts + 1`, updated_at: this.conn.time(now) })
      .where('uuid', '=', uuid)
      .where('state', 'in', ['pending', 'running'])
      .where((eb) => eb.or([eb('owner', 'is', null), eb('lease_expires_at', '<', this.conn.time(now))]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async renewLeases(owner: string, uuids: readonly string[], leaseUntil: Date): Promise<string[]> {
    const held: string[] = [];
    for (let i = 0; i < uuids.length; i += 500) {
      const some = uuids.slice(i, i + 500) as string[];
      const q = this.#db.updateTable('operation').set({ lease_expires_at: this.conn.time(leaseUntil) })
        .where('owner', '=', owner).where('state', '=', 'running').where('uuid', 'in', some);
      if (this.conn.dialect !== 'mysql') {
        for (const r of await q.returning('uuid').execute()) held.push(r.uuid as string);
        continue;
      }
      // MariaDB has no UPDATE ... RETURNING: read back which are still ours (nobody takes over a
      // lease that was just renewed, so the read cannot miss one the update renewed).
      await q.execute();
      const rows = await this.#db.selectFrom('operation').select('uuid').where('owner', '=', owner).where('state', '=', 'running').where('uuid', 'in', some).execute();
      for (const r of rows) held.push(r.uuid as string);
    }
    return held;
  }

  saveOperationStep(uuid: string, owner: string, step: string, params?: Record<string, unknown>): Promise<boolean> {
    return this.saveStepOutcome({ uuid, owner, step, params });
  }

  /**
   * A step's outcome in one transaction: the operation's step and params (only while `owner`
   * holds it running) and the step's cluster and nodegroup changes, all or nothing, so a crash
   * never leaves a saved step without what it changed (an api_address, node addresses).
   */
  async saveStepOutcome(o: StepOutcome): Promise<boolean> {
    const set = toRow(this.conn, 'operation', { step: o.step, ...(o.params !== undefined ? { params: o.params } : {}), updated_at: new Date() });
    const saveStep = async (db: Kysely<any>) => {
      const res = await db.updateTable('operation').set(set).where('uuid', '=', o.uuid).where('owner', '=', o.owner).where('state', '=', 'running').executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    };
    const changes = Object.keys(o.cluster?.changes ?? {}).length + Object.keys(o.nodegroups ?? {}).length;
    // A step that changed nothing else: one statement (its owner check makes it safe beside a
    // delete that supersedes the operation under the cluster's lock: one of the two writes first).
    if (!changes) return saveStep(this.#db);
    return this.#transaction(async (tx) => {
      const clusterId = o.cluster?.uuid ?? (await tx.selectFrom('operation').select('cluster_id').where('uuid', '=', o.uuid).executeTakeFirst())?.cluster_id as string | undefined;
      if (!clusterId) return false;
      await this.#lockCluster(tx, clusterId);
      if (!(await saveStep(tx))) return false;
      await this.#applyChanges(tx, o.cluster, o.nodegroups);
      return true;
    });
  }

  /** An operation's cluster and nodegroup changes, inside its transaction. */
  async #applyChanges(tx: Transaction<any>, cluster: StepOutcome['cluster'], nodegroups: StepOutcome['nodegroups']): Promise<void> {
    if (cluster && Object.keys(cluster.changes).length) {
      await tx.updateTable('cluster').set(toRow(this.conn, 'cluster', { ...cluster.changes, updated_at: new Date() })).where('uuid', '=', cluster.uuid).execute();
    }
    for (const [uuid, changes] of Object.entries(nodegroups ?? {})) {
      await tx.updateTable('nodegroup').set(toRow(this.conn, 'nodegroup', { ...changes, updated_at: new Date() })).where('uuid', '=', uuid).execute();
    }
  }

  /** Give an operation back (this owner stopped working on it). */
  async releaseOperation(uuid: string, owner: string): Promise<void> {
    await this.#db.updateTable('operation').set({ owner: null, lease_expires_at: null })
      .where('uuid', '=', uuid).where('owner', '=', owner).execute();
  }

  async listClustersInStatus(statuses: readonly string[], limit: number, afterId = 0): Promise<Cluster[]> {
    const rows = await this.#db.selectFrom('cluster').selectAll().where('status', 'in', statuses as string[]).where('id', '>', afterId)
      .orderBy('id').limit(limit).execute();
    return this.#rows('cluster', rows);
  }

  /** Operations a sweep should look at: unowned or lease expired, or past their deadline. */
  async listStaleOperations(now: Date, limit = 100): Promise<Operation[]> {
    const t = this.conn.time(now);
    const rows = await this.#db.selectFrom('operation').selectAll()
      .where('state', 'in', ['pending', 'running'])
      .where((eb) => eb.or([eb('owner', 'is', null), eb('lease_expires_at', '<', t), eb('deadline_at', '<', t)]))
      .orderBy('id').limit(limit).execute();
    return this.#rows('operation', rows);
  }

  /**
   * Finish an operation and apply the final cluster and nodegroup changes atomically. When
   * `owner` is given the write happens only while that owner still holds the operation.
   */
  async finishOperation(fin: OperationFinish): Promise<boolean> {
    return this.#transaction(async (tx) => {
      const target = await tx.selectFrom('operation').select('cluster_id').where('uuid', '=', fin.uuid).executeTakeFirst();
      if (target) await this.#lockCluster(tx, target.cluster_id as string);
      let q = tx.updateTable('operation')
        .set(toRow(this.conn, 'operation', { state: fin.state, last_error: fin.error ?? null, updated_at: new Date(), lease_expires_at: null, ...(fin.params ? { params: fin.params } : {}) }))
        .where('uuid', '=', fin.uuid).where('state', 'in', ['pending', 'running']);
      if (fin.owner !== null) q = q.where('owner', '=', fin.owner);
      const res = await q.executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      if (fin.destroyCluster) {
        const id = fin.destroyCluster;
        await tx.deleteFrom('nodegroup').where('cluster_id', '=', id).execute();
        await tx.deleteFrom('cluster_event').where('cluster_id', '=', id).execute();
        await tx.deleteFrom('operation').where('cluster_id', '=', id).execute();
        await tx.deleteFrom('cluster_resource').where('cluster_id', '=', id).execute();
        await tx.deleteFrom('container').where('cluster_id', '=', id).execute();
        await tx.deleteFrom('cluster_workload').where('cluster_id', '=', id).execute();
        await tx.deleteFrom('image_load').where('cluster_id', '=', id).execute();
        await tx.deleteFrom('cluster').where('uuid', '=', id).execute();
        return true;
      }
      await this.#applyChanges(tx, fin.cluster, fin.nodegroups);
      for (const uuid of fin.destroyNodeGroups ?? []) await tx.deleteFrom('nodegroup').where('uuid', '=', uuid).execute();
      return true;
    });
  }

  // ---- image loads ---------------------------------------------------------------------------

  async startImageLoad(load: Pick<ImageLoad, 'uuid' | 'cluster_id' | 'file' | 'owner' | 'lease_expires_at' | 'deadline_at'>): Promise<void> {
    await this.#insert(this.#db, 'image_load', { ...load, state: 'running', last_error: null });
  }

  async getImageLoad(uuid: string): Promise<ImageLoad | null> {
    const row = await this.#db.selectFrom('image_load').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? fromRow('image_load', row) : null;
  }

  async renewImageLoad(uuid: string, owner: string, leaseUntil: Date): Promise<boolean> {
    const res = await this.#db.updateTable('image_load').set({ lease_expires_at: this.conn.time(leaseUntil) })
      .where('uuid', '=', uuid).where('owner', '=', owner).where('state', '=', 'running').executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async claimImageLoad(uuid: string, owner: string, leaseUntil: Date, now: Date): Promise<boolean> {
    const t = this.conn.time(now);
    const res = await this.#db.updateTable('image_load')
      .set({ owner, lease_expires_at: this.conn.time(leaseUntil), updated_at: t })
      .where('uuid', '=', uuid).where('state', '=', 'running').where('deadline_at', '>', t)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', t)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async finishImageLoad(uuid: string, owner: string | null, state: 'complete' | 'failed', error: string | null): Promise<boolean> {
    let q = this.#db.updateTable('image_load')
      .set(toRow(this.conn, 'image_load', { state, last_error: error, lease_expires_at: null, updated_at: new Date() }))
      .where('uuid', '=', uuid).where('state', '=', 'running');
    if (owner !== null) q = q.where('owner', '=', owner);
    return Number((await q.executeTakeFirst()).numUpdatedRows) === 1;
  }

  async listStaleImageLoads(now: Date, limit = 100): Promise<ImageLoad[]> {
    const t = this.conn.time(now);
    const rows = await this.#db.selectFrom('image_load').selectAll().where('state', '=', 'running')
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', t), eb('deadline_at', '<', t)]))
      .orderBy('id').limit(limit).execute();
    return this.#rows('image_load', rows);
  }

  // ---- the ledger -----------------------------------------------------------------------------

  /** Record (or re-record) a resource before creating it; a present one stays present. */
  async intendResource(clusterUuid: string, kind: ClusterResource['kind'], name: string, details: Record<string, unknown> = {}): Promise<void> {
    const existing = await this.#db.selectFrom('cluster_resource').select(['id', 'state']).where('cluster_id', '=', clusterUuid).where('kind', '=', kind).where('name', '=', name).executeTakeFirst();
    if (existing) {
      if (existing.state === 'removed') {
        await this.#db.updateTable('cluster_resource').set(toRow(this.conn, 'cluster_resource', { state: 'intended', details, updated_at: new Date() })).where('id', '=', existing.id).execute();
      }
      return;
    }
    try {
      await this.#insert(this.#db, 'cluster_resource', { cluster_id: clusterUuid, kind, name, state: 'intended', details });
    } catch (e) {
      if (!(e instanceof UniqueViolation)) throw e;
    }
  }

  async markResource(clusterUuid: string, kind: ClusterResource['kind'], name: string, state: 'present' | 'removed', externalId?: string | null, details?: Record<string, unknown>): Promise<void> {
    const changes: Record<string, unknown> = { state, updated_at: new Date() };
    if (externalId !== undefined) changes.external_id = externalId;
    if (details !== undefined) changes.details = details;
    await this.#db.updateTable('cluster_resource').set(toRow(this.conn, 'cluster_resource', changes))
      .where('cluster_id', '=', clusterUuid).where('kind', '=', kind).where('name', '=', name).execute();
  }

  async listResourcesOf(clusterUuids: string[]): Promise<ClusterResource[]> {
    if (!clusterUuids.length) return [];
    const rows = await this.#db.selectFrom('cluster_resource').selectAll().where('cluster_id', 'in', clusterUuids).where('state', '!=', 'removed').orderBy('id').execute();
    return this.#rows('cluster_resource', rows);
  }

  async listResources(clusterUuid: string, opts: { includeRemoved?: boolean } = {}): Promise<ClusterResource[]> {
    let q = this.#db.selectFrom('cluster_resource').selectAll().where('cluster_id', '=', clusterUuid);
    if (!opts.includeRemoved) q = q.where('state', '!=', 'removed');
    return this.#rows('cluster_resource', await q.orderBy('id').execute());
  }

  // ---- containers -----------------------------------------------------------------------------

  /** `command` is JSON (a string or a list), kept as given. */
  #containerIn(values: Partial<Container>): Record<string, unknown> {
    const { command, ...rest } = values;
    return command === undefined ? rest : { ...rest, command: command === null ? null : JSON.stringify(command) };
  }

  #containerOut(row: unknown): Container {
    const c = fromRow<Container>('container', row as Record<string, unknown>);
    const raw = c.command as unknown;
    c.command = raw === null || raw === undefined ? null : (JSON.parse(String(raw)) as Container['command']);
    if (c.cpu !== null && c.cpu !== undefined) c.cpu = Number(c.cpu);
    return c;
  }

  async createContainer(values: Partial<Container> & { uuid: string; cluster_id: string }): Promise<Container> {
    await this.#insert(this.#db, 'container', this.#containerIn(values));
    return (await this.getContainerByUuid(values.uuid))!;
  }

  async findContainers(scope: Scope, by: { uuid?: string; name?: string }): Promise<Container[]> {
    let q = this.#db.selectFrom('container').selectAll();
    if (by.uuid !== undefined) q = q.where('uuid', '=', by.uuid.toLowerCase());
    if (by.name !== undefined) q = q.where('name', '=', by.name);
    q = withinScope(q, scope);
    return (await q.limit(2).execute()).map((r) => this.#containerOut(r));
  }

  async getContainerByUuid(uuid: string): Promise<Container | null> {
    const row = await this.#db.selectFrom('container').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    return row ? this.#containerOut(row) : null;
  }

  async listContainers(scope: Scope, page: PageRequest, clusterUuid?: string): Promise<Container[]> {
    let q = this.#db.selectFrom('container').selectAll();
    q = withinScope(q, scope);
    if (clusterUuid !== undefined) q = q.where('cluster_id', '=', clusterUuid);
    return (await paginate(this.conn, q, 'container', page).execute()).map((r) => this.#containerOut(r));
  }

  /** Every container of a cluster (placement counts containers per node). */
  async listContainersOfCluster(clusterUuid: string): Promise<Container[]> {
    const rows = await this.#db.selectFrom('container').selectAll().where('cluster_id', '=', clusterUuid).orderBy('id').execute();
    return rows.map((r) => this.#containerOut(r));
  }

  async updateContainer(uuid: string, changes: Partial<Container>): Promise<Container | null> {
    const row = toRow(this.conn, 'container', { ...this.#containerIn(changes), updated_at: new Date() });
    await this.#db.updateTable('container').set(row).where('uuid', '=', uuid).execute();
    return this.getContainerByUuid(uuid);
  }

  /** Several containers' last seen status at once (a list refresh). */
  async setContainerStatuses(statuses: Record<string, string>): Promise<void> {
    for (const [uuid, status] of Object.entries(statuses)) {
      await this.#db.updateTable('container').set(toRow(this.conn, 'container', { status, updated_at: new Date() }))
        .where('uuid', '=', uuid).where((eb) => eb.or([eb('status', '!=', status), eb('status', 'is', null)])).execute();
    }
  }

  async destroyContainer(uuid: string): Promise<void> {
    await this.#db.deleteFrom('container').where('uuid', '=', uuid).execute();
  }

  // ---- events ----------------------------------------------------------------------------------

  async appendEvent(ev: Omit<ClusterEvent, 'id' | 'created_at'>): Promise<void> {
    await this.appendEvents([ev]);
  }

  async appendEvents(evs: Omit<ClusterEvent, 'id' | 'created_at'>[]): Promise<void> {
    if (!evs.length) return;
    const now = new Date();
    await this.#db.insertInto('cluster_event').values(evs.map((ev) => toRow(this.conn, 'cluster_event', { ...ev, created_at: now }))).execute();
  }

  async listEvents(clusterUuid: string, opts: { limit: number; afterId?: number }): Promise<ClusterEvent[]> {
    let q = this.#db.selectFrom('cluster_event').selectAll().where('cluster_id', '=', clusterUuid);
    if (opts.afterId !== undefined) q = q.where('id', '>', opts.afterId);
    return this.#rows('cluster_event', await q.orderBy('id').limit(opts.limit).execute());
  }

  /** For tests and the sample data loader: how many rows each table has. */
  async tableCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const t of ['cluster_template', 'cluster', 'nodegroup', 'quotas', 'operation', 'cluster_event', 'cluster_resource', 'x509keypair', 'federation']) {
      const r = await this.#db.selectFrom(t).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
      out[t] = Number(r?.n ?? 0);
    }
    return out;
  }

  // ---- subnet allocation ------------------------------------------------------------------------

  /** The subnet allocated to a cluster's network, or null. */
  async findClusterSubnet(clusterUuid: string): Promise<string | null> {
    const row = await this.#db.selectFrom('cluster_subnet').select('subnet').where('cluster_id', '=', clusterUuid).executeTakeFirst();
    return row ? String(row.subnet) : null;
  }

  /** Every allocated subnet (CIDRs in canonical form), oldest first. */
  async listAllocatedSubnets(): Promise<{ clusterUuid: string; subnet: string }[]> {
    const rows = await this.#db.selectFrom('cluster_subnet').select(['cluster_id', 'subnet']).orderBy('id').execute();
    return rows.map((r) => ({ clusterUuid: String(r.cluster_id), subnet: String(r.subnet) }));
  }

  /**
   * Allocate `subnet` to the cluster unless another cluster holds it. Returns the subnet the
   * cluster holds afterwards (this one, or the one it already had), or null when it is taken.
   * The unique keys decide between concurrent callers, on any number of processes.
   */
  async claimClusterSubnet(clusterUuid: string, subnet: string): Promise<string | null> {
    try {
      await this.#db.insertInto('cluster_subnet').values({ cluster_id: clusterUuid, subnet, created_at: this.conn.time(new Date()) }).execute();
      return subnet;
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      return this.findClusterSubnet(clusterUuid);
    }
  }

  /** The cluster's network is gone: its subnet may be allocated again. */
  async releaseClusterSubnet(clusterUuid: string): Promise<void> {
    await this.#db.deleteFrom('cluster_subnet').where('cluster_id', '=', clusterUuid).execute();
  }
}

export type { ClusterStatus };

/** Project ids in a fixed order (code unit order, the same in every process; no project first). */
function compareProjects(a: string | null | undefined, b: string | null | undefined): number {
  const [x, y] = [a ?? '', b ?? ''];
  return x < y ? -1 : x > y ? 1 : 0;
}

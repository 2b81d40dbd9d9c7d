import { sql, type Expression, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { PageRequest } from '../api.ts';
import type { Connection } from './connection.ts';

export type { PageRequest };

/**
 * ORDER BY (sort_key, id) with keyset pagination strictly after the marker row, NULLs sorting
 * lowest on every database (PostgreSQL's default is the other way round).
 */
export function paginate<QB extends SelectQueryBuilder<any, any, any>>(conn: Connection, qb: QB, table: string, page: PageRequest): QB {
  const { sortKey, sortDir } = page;
  const col = sql.ref(`${table}.${sortKey}`);
  const id = sql.ref(`${table}.id`);
  const asc = sortDir === 'asc';
  let q = qb as SelectQueryBuilder<any, any, any>;
  if (page.marker) {
    const m = page.marker as Record<string, unknown>;
    const mid = m.id as number;
    if (sortKey === 'id') {
      q = q.where(id as any, asc ? '>' : '<', mid);
    } else {
      // The marker's sort value as stored, read by id: the record's value may not round-trip
      // (a JSON column reads NULL back as {} / []).
      const mv = sql`(select ${sql.ref(`m.${sortKey}`)} from ${sql.table(table)} as m where m.id = ${mid})`;
      // Parenthesized as a whole: it is ANDed onto the caller's filters (project scope, cluster).
      const cond: Expression<SqlBool> = asc
        ? sql<SqlBool>`(${col} > ${mv} or (${col} = ${mv} and ${id} > ${mid}) or (${mv} is null and (${col} is not null or ${id} > ${mid})))`
        : sql<SqlBool>`(${col} < ${mv} or (${col} = ${mv} and ${id} < ${mid}) or (${col} is null and (${mv} is not null or ${id} < ${mid})))`;
      q = q.where(cond);
    }
  }
  if (sortKey !== 'id') {
    const nulls = conn.dialect === 'postgres' ? sql.raw(asc ? ' nulls first' : ' nulls last') : sql.raw('');
    q = q.orderBy(sql`${col} ${sql.raw(sortDir)}${nulls}`);
  }
  q = q.orderBy(sql`${id} ${sql.raw(sortDir)}`).limit(page.limit);
  return q as QB;
}

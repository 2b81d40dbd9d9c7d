// Every project-scoped query goes through here: a scope that names no project is refused
// (projectOf throws), never read as "all projects".
import type { SelectQueryBuilder } from 'kysely';
import { projectOf, type Scope } from '../../common/scope.ts';

export function withinScope<QB extends SelectQueryBuilder<any, any, any>>(qb: QB, scope: Scope, column = 'project_id'): QB {
  const projectId = projectOf(scope);
  return projectId === null ? qb : (qb.where(column as any, '=', projectId) as QB);
}

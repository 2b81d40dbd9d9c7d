// /v1/containers: Magnum 2015's containers on swarm clusters (reference §12.3), with what Docker
// users expect beyond them (CPU limits, published ports, restart policies, logs with tail and
// since, execute with exit code and separate streams, 409 for an action that does not fit the
// container's state). These routes never coexisted with Magnum 15's API version: they are served
// under /v1 at every microversion and touch none of Magnum 15's routes.
//
// The row lives in the database; everything Docker does happens in a conductor (which holds the
// cluster's client certificate), through synchronous RPC calls.
import { randomUUID } from 'node:crypto';
import { Type } from 'typebox';
import { E, MagnumError } from '../../../common/errors.ts';
import {
  DOCKER_MINIMUM_MEMORY, IMAGE_REFERENCE, RESTART_POLICY, dockerMemoryBytes, parsePort, shellSplit, type ContainerLive,
} from '../../../objects/container.ts';
import type { Cluster, Container } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { identLookup, isoTime, nextLink, pageParams, pageQuery, resourceLinks } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { Body, NoQuery, Params, PatchDocument, Query, W, described, fieldValue, mandatory } from '../../request-schemas.ts';
import { NoContent, refusals } from '../../schemas.ts';
import { Container as ContainerSchema, ContainerDetailList, ContainerExecution, ContainerList, ContainerLogs } from '../../schemas/containers.ts';
import { canonicalUuid } from '../../validation.ts';
import { adminWideScope, findCluster } from './lookup.ts';

const s255 = () => W.str({ min: 1, max: 255 });
export const EXEC_DEFAULT_TIMEOUT = 60;
const COMMAND = 'A command line (split as a shell does) or a non-empty list of arguments';

/** A container as a create takes it: WSME's checks here, the values' own forms in the handler. */
export const ContainerCreate = Body('container', {
  uuid: W.uuid(),
  name: s255(),
  image: described('A Docker image reference: repository[:tag] or repository@sha256:digest, in lower case', mandatory(s255())),
  command: described(COMMAND),
  bay_uuid: described('The cluster (uuid or name); or cluster_uuid', s255()),
  cluster_uuid: described('The cluster (uuid or name); or bay_uuid', s255()),
  memory: described('<number>[b|k|m|g], at least 4 MiB', s255()),
  cpu: described('A number of CPUs, 0.01-1024'),
  environment: W.strdict(),
  ports: described('At most 100 of [host_port:]container_port[/protocol], protocol tcp, udp or sctp'),
  restart_policy: described('no, always, unless-stopped or on-failure[:max-retries]', s255()),
  ...Object.fromEntries(['status', 'status_reason', 'published_ports', 'host', 'project_id', 'user_id', 'links', 'created_at', 'updated_at']
    .map((n) => [n, W.readonly()])),
}, ['image']);
const execTimeout = () => described(`Seconds the command may run (default ${EXEC_DEFAULT_TIMEOUT})`, W.int({ min: 1, max: 3600 }));
/** POST …/execute: the command and how long it may run. */
const ExecuteBody = Body('execute', { command: described(COMMAND, mandatory(W.any())), timeout: execTimeout() }, ['command']);
const ListQuery = pageQuery({ bay_ident: described('Only the containers of this cluster (uuid or name)', W.str()), cluster_ident: described('As bay_ident', W.str()) });
const DeleteQuery = Query({ force: described('Delete a running container too', W.bool()) }, { singleValued: true });
const GraceQuery = Query({ timeout: described('Seconds the container has to stop before it is killed', W.int({ min: 0, max: 600 })) }, { singleValued: true });
const tailLines = W.int({ min: 0 });
/** tail's number, checked when it is not "all". */
const TailValue = Query({ tail: tailLines });
const LogsQuery = Query({
  tail: Type.Unsafe<unknown>({ anyOf: [tailLines, { type: 'string', const: 'all' }], description: 'The last lines only, or all' }),
  since: described('A duration (10m, 1h30m), a Unix timestamp or an RFC 3339 date', W.str()),
  timestamps: W.bool(),
}, { singleValued: true });
/** Magnum 2015's PUT …/execute?command=… (the command line is required). */
const ExecuteQuery = Type.Unsafe<Record<string, unknown>>({
  ...Query({ command: described(COMMAND, W.str()), timeout: execTimeout() }, { singleValued: true }),
  required: ['command'],
});
const tags = ['containers'];
const ident = Params('ident');

const CONTAINER_FIELDS = new Set(Object.keys((ContainerCreate as { properties: object }).properties));
const CONTAINER_INTERNAL = [...COMMON_INTERNAL, '/bay_uuid', '/cluster_uuid', '/status', '/status_reason', '/published_ports', '/host'];
/** What PATCH may change: the name (a row change) and, live through `docker update`, limits and restart policy. */
const PATCHABLE = ['name', 'memory', 'cpu', 'restart_policy'];
const SWARM_COES = ['swarm', 'swarm-mode'];
const MAX_PORTS = 100;

// ---- values ---------------------------------------------------------------------------------

export function checkImage(v: string): string {
  if (!IMAGE_REFERENCE.test(v)) throw E.InvalidInput('image', v, 'Value should be a Docker image reference: repository[:tag] or repository@sha256:digest, in lower case');
  return v;
}

export function checkMemory(v: string): string {
  const bytes = dockerMemoryBytes(v);
  if (bytes === null) throw E.InvalidInput('memory', v, 'Invalid docker memory specified. Acceptable values are format: <number>[<unit>], where unit = b, k, m or g');
  if (bytes < DOCKER_MINIMUM_MEMORY) throw E.InvalidInput('memory', v, `Docker Minimum memory limit allowed is ${DOCKER_MINIMUM_MEMORY} B.`);
  return v;
}

export function checkCpu(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (typeof v === 'boolean' || !Number.isFinite(n)) throw E.InvalidInput('cpu', v, "Wrong type. Expected a number of CPUs, got '" + typeof v + "'");
  if (n < 0.01) throw E.InvalidInput('cpu', v, 'Value should be greater or equal to 0.01');
  if (n > 1024) throw E.InvalidInput('cpu', v, 'Value should be lower or equal to 1024');
  return Math.round(n * 100) / 100;
}

export function checkRestartPolicy(v: string): string {
  if (!RESTART_POLICY.test(v)) throw E.InvalidInput('restart_policy', v, 'Value should be one of: no, always, unless-stopped, on-failure[:max-retries]');
  return v;
}

/** A command as a string (split like a shell does) or a list of strings; `field` names it in errors. */
export function checkCommand(v: unknown, field = 'command'): string | string[] {
  if (typeof v === 'string') {
    let args: string[];
    try {
      args = shellSplit(v);
    } catch (e) {
      throw E.InvalidInput(field, v, `${(e as Error).message}`);
    }
    if (!args.length) throw E.InvalidInput(field, v, 'Value should not be empty');
    return v;
  }
  if (Array.isArray(v) && v.length > 0 && v.every((a) => typeof a === 'string') && v[0] !== '') return v as string[];
  throw E.InvalidInput(field, v, 'Value should be a non-empty string or a non-empty list of strings');
}

export function checkPorts(v: unknown): string[] {
  if (!Array.isArray(v)) throw E.InvalidInput('ports', v, 'Value should be a list of ports, [host_port:]container_port[/protocol]');
  if (v.length > MAX_PORTS) throw E.InvalidInput('ports', v, `Value should have at most ${MAX_PORTS} ports`);
  const seen = new Set<string>();
  return v.map((p) => {
    const text = typeof p === 'number' && Number.isInteger(p) ? String(p) : p;
    const spec = typeof text === 'string' ? parsePort(text) : null;
    if (!spec) throw E.InvalidInput('ports', p, 'Each port should be [host_port:]container_port[/protocol], ports 1-65535, protocol tcp, udp or sctp');
    for (const key of [`c${spec.containerPort}/${spec.protocol}`, ...(spec.hostPort !== null ? [`h${spec.hostPort}/${spec.protocol}`] : [])]) {
      if (seen.has(key)) throw E.InvalidInput('ports', p, 'Each port should be published once');
      seen.add(key);
    }
    return text as string;
  });
}

function checkEnvironment(env: Record<string, string>): Record<string, string> {
  for (const [k, val] of Object.entries(env)) {
    if (!k || /[=\0]/.test(k) || val.includes('\0')) throw E.InvalidInput('environment', env, 'Variable names should be non-empty and contain no = or NUL, values no NUL');
  }
  return env;
}

// ---- views ----------------------------------------------------------------------------------

const BRIEF = ['uuid', 'name', 'bay_uuid', 'cluster_uuid', 'image', 'command', 'status', 'memory', 'environment'] as const;

export function containerView(c: Container, live: ContainerLive | undefined, host: string, brief = false): Record<string, unknown> {
  const full: Record<string, unknown> = {
    uuid: c.uuid,
    name: c.name,
    image: c.image,
    command: c.command,
    status: live?.status ?? c.status ?? 'Unknown',
    status_reason: live?.status_reason ?? null,
    memory: c.memory,
    cpu: c.cpu,
    environment: c.environment,
    ports: c.ports,
    published_ports: live?.published_ports ?? [],
    restart_policy: c.restart_policy,
    host: c.host,
    bay_uuid: c.cluster_id,
    cluster_uuid: c.cluster_id,
    project_id: c.project_id,
    user_id: c.user_id,
    links: resourceLinks(host, `containers/${c.uuid}`),
    created_at: isoTime(c.created_at),
    updated_at: isoTime(c.updated_at),
  };
  if (!brief) return full;
  const out: Record<string, unknown> = {};
  for (const k of BRIEF) out[k] = full[k];
  out.links = full.links;
  return out;
}

// ---- routes ---------------------------------------------------------------------------------

export function registerContainers(router: Router, deps: ApiDeps): void {
  const { storage, policy, conf, conductor } = deps;

  const find = async (r: ApiRequest, ident = r.params.ident): Promise<Container> => {
    const found = await storage.findContainers(adminWideScope(r.ctx), identLookup(ident));
    if (found.length === 0) throw E.ContainerNotFound(ident);
    if (found.length > 1) throw E.Conflict('Multiple containers exist with same name. Please use the container uuid instead.');
    return found[0];
  };

  /** Live status of the given rows; when no conductor answers, Unknown (the rows still show). */
  const liveOf = async (r: ApiRequest, rows: Container[]): Promise<Record<string, ContainerLive>> => {
    if (!rows.length) return {};
    try {
      return await conductor.containerStatus(r.ctx, rows.map((c) => ({ uuid: c.uuid, cluster_id: c.cluster_id, host: c.host, status: c.status })), 30_000);
    } catch (e) {
      if (!(e instanceof MagnumError) || e.status < 503) throw e;
      return Object.fromEntries(rows.map((c) => [c.uuid, { status: 'Unknown', status_reason: e.message, published_ports: [] } satisfies ContainerLive]));
    }
  };

  const clusterOf = async (r: ApiRequest, ident: string): Promise<Cluster> => findCluster(storage, adminWideScope(r.ctx), ident);

  const list = (detail: boolean) => async (r: ApiRequest) => {
    r.checkQuery();
    policy.enforce(r.ctx, `container:${detail ? 'detail' : 'get_all'}`);
    const p = pageParams(r.query, 'container', conf.api.max_limit);
    const scope = adminWideScope(r.ctx);
    let clusterUuid: string | undefined;
    const idents = [r.query.bay_ident, r.query.cluster_ident].filter((v) => v !== undefined).map(String);
    for (const ident of idents) {
      const c = await clusterOf(r, ident);
      if (clusterUuid !== undefined && clusterUuid !== c.uuid) throw E.Invalid('bay_ident and cluster_ident name different clusters.');
      clusterUuid = c.uuid;
    }
    const marker = p.marker ? (await storage.findContainers(scope, { uuid: p.marker }))[0] : undefined;
    if (p.marker && !marker) throw E.ContainerNotFound(p.marker);
    const page = { ...p, marker };
    const rows = await storage.listContainers(scope, page, clusterUuid);
    const live = await liveOf(r, rows);
    const body: Record<string, unknown> = { containers: rows.map((c) => containerView(c, live[c.uuid], r.host, !detail)) };
    const next = nextLink(r.host, detail ? 'containers/detail' : 'containers', page, rows);
    if (next) body.next = next;
    return { status: 200, body };
  };
  router.get('/v1/containers', list(false), { summary: 'List containers (a cluster\'s with bay_ident or cluster_ident), with their live status', tags, querystring: ListQuery, response: { 200: ContainerList, ...refusals(400, 404, 409) } });
  router.get('/v1/containers/detail', list(true), { summary: 'List containers with details', tags, querystring: ListQuery, response: { 200: ContainerDetailList, ...refusals(400, 404, 409) } });

  router.get('/v1/containers/:ident', async (r) => {
    r.checkQuery();
    const c = await find(r);
    policy.enforce(r.ctx, 'container:get', { ...c });
    const live = await liveOf(r, [c]);
    return { status: 200, body: containerView(c, live[c.uuid], r.host) };
  }, { summary: 'Show a container (by uuid or name), with its live status', tags, params: ident, querystring: NoQuery, response: { 200: ContainerSchema, ...refusals(400, 404, 409) } });

  router.post('/v1/containers', async (r) => {
    r.checkQuery();
    const input = r.body();
    const image = checkImage(input.image as string);
    const command = input.command === undefined || input.command === null ? null : checkCommand(input.command);
    const memory = input.memory === undefined || input.memory === null ? null : checkMemory(input.memory as string);
    const cpu = input.cpu === undefined || input.cpu === null ? null : checkCpu(input.cpu);
    const ports = input.ports === undefined || input.ports === null ? [] : checkPorts(input.ports);
    const restart = input.restart_policy === undefined || input.restart_policy === null ? null : checkRestartPolicy(input.restart_policy as string);
    const environment = checkEnvironment((input.environment as Record<string, string> | null | undefined) ?? {});
    const idents = (['bay_uuid', 'cluster_uuid'] as const).filter((k) => input[k] !== undefined && input[k] !== null);
    if (!idents.length) throw E.InvalidInput('bay_uuid', null, 'Mandatory field missing. Name the cluster as bay_uuid or cluster_uuid.');
    policy.enforce(r.ctx, 'container:create');
    let cluster: Cluster | undefined;
    for (const k of idents) {
      const c = await clusterOf(r, String(input[k]));
      if (cluster && cluster.uuid !== c.uuid) throw E.Invalid('bay_uuid and cluster_uuid name different clusters.');
      cluster = c;
    }
    const template = await storage.getClusterTemplateByUuid(cluster!.cluster_template_id ?? '');
    if (!template?.coe || !SWARM_COES.includes(template.coe)) {
      // As in Magnum 2015, whose containers were Docker containers of swarm bays. A Kubernetes user
      // runs a pod instead: a one-container pod could not be stopped, started again or paused.
      const hint = template?.coe === 'kubernetes' ? ' Run it as a pod instead: POST /v1/pods with a Kubernetes Pod manifest (coe pod create).' : '';
      throw E.InvalidParameterValue(`Cluster ${cluster!.name ?? cluster!.uuid} is a ${template?.coe ?? 'unknown'} cluster; containers run on swarm and swarm-mode clusters only.${hint}`);
    }
    const uuid = input.uuid ? canonicalUuid(input.uuid as string) : randomUUID();
    if (input.uuid && (await storage.getContainerByUuid(uuid))) throw E.Conflict(`A container with UUID ${uuid} already exists.`);
    const spec: Partial<Container> & { uuid: string; cluster_id: string; image: string } = {
      uuid,
      name: (input.name as string | null | undefined) ?? null,
      // The container belongs to its cluster's project: that project's members see and act on it.
      project_id: cluster!.project_id,
      user_id: r.ctx.userId,
      cluster_id: cluster!.uuid,
      image, command, memory, cpu, environment, ports, restart_policy: restart,
    };
    const live = await conductor.containerCreate(r.ctx, spec, 150_000);
    const created = await storage.getContainerByUuid(uuid);
    if (!created) throw E.ContainerNotFound(uuid);
    return { status: 201, body: containerView(created, live, r.host) };
  }, { summary: 'Create a container on a swarm or swarm-mode cluster (created, not started)', tags, querystring: NoQuery, body: ContainerCreate, response: { 201: ContainerSchema, ...refusals(400, 404, 409, 503) } });

  router.patch('/v1/containers/:ident', async (r) => {
    r.checkQuery();
    const ops = parsePatchBody(r.json(), { internal: CONTAINER_INTERNAL, nonRemovable: ['/image'] });
    const c = await find(r);
    policy.enforce(r.ctx, 'container:update', { ...c });
    const current: Record<string, unknown> = {
      name: c.name, image: c.image, command: c.command, memory: c.memory, cpu: c.cpu, environment: c.environment,
      ports: c.ports, restart_policy: c.restart_policy,
    };
    const patched = applyPatch(current, ops);
    const changed = Object.keys({ ...current, ...patched }).filter((k) => JSON.stringify(patched[k] ?? null) !== JSON.stringify(current[k] ?? null));
    for (const k of changed) if (!CONTAINER_FIELDS.has(k)) throw E.UnknownAttribute('container', [k]);
    const fixed = changed.filter((k) => !PATCHABLE.includes(k));
    if (fixed.length) throw E.InvalidParameterValue(`cannot change container property(ies) ${fixed.join(', ')}: create a new container instead.`);
    const value = (k: string) => (patched[k] === undefined ? null : patched[k]);
    const changes: Partial<Container> = {};
    if (changed.includes('name')) changes.name = value('name') === null ? null : (fieldValue(ContainerCreate, 'name', value('name')) as string);
    if (changed.includes('memory')) {
      if (value('memory') === null) throw E.InvalidParameterValue('The memory limit of a container can be changed, not removed: create a new container instead.');
      changes.memory = checkMemory(fieldValue(ContainerCreate, 'memory', String(value('memory'))) as string);
    }
    if (changed.includes('cpu')) changes.cpu = value('cpu') === null ? null : checkCpu(value('cpu'));
    if (changed.includes('restart_policy')) changes.restart_policy = value('restart_policy') === null ? null : checkRestartPolicy(String(value('restart_policy')));
    const { name, ...live } = changes;
    let state: ContainerLive | undefined;
    if (Object.keys(live).length) state = await conductor.containerUpdate(r.ctx, c.uuid, live, 60_000);
    if ('name' in changes) await storage.updateContainer(c.uuid, { name });
    const now = (await storage.getContainerByUuid(c.uuid)) ?? c;
    if (!state) state = (await liveOf(r, [now]))[now.uuid];
    return { status: 200, body: containerView(now, state, r.host) };
  }, { summary: 'Update a container (JSON Patch): its name, and live its memory, cpu and restart_policy', tags, params: ident, querystring: NoQuery, body: PatchDocument, response: { 200: ContainerSchema, ...refusals(400, 404, 409, 503) } });

  router.delete('/v1/containers/:ident', async (r) => {
    r.checkQuery();
    const force = r.query.force === undefined ? false : fieldValue(DeleteQuery, 'force', r.query.force) === true;
    const c = await find(r);
    policy.enforce(r.ctx, 'container:delete', { ...c });
    await conductor.containerDelete(r.ctx, c.uuid, force, 60_000);
    return { status: 204 };
  }, { summary: 'Delete a container (a running one with force=true)', tags, params: ident, querystring: DeleteQuery, response: { 204: NoContent, ...refusals(400, 404, 409, 503) } });

  const graceful = new Set(['stop', 'reboot']);
  for (const action of ['start', 'stop', 'reboot', 'pause', 'unpause'] as const) {
    router.put(`/v1/containers/:ident/${action}`, async (r) => {
      r.checkQuery();
      const timeout = r.query.timeout === undefined ? null : (fieldValue(GraceQuery, 'timeout', r.query.timeout) as number);
      const c = await find(r);
      policy.enforce(r.ctx, `container:${action}`, { ...c });
      const live = await conductor.containerAction(r.ctx, c.uuid, action, timeout, (60 + (timeout ?? 10)) * 1000);
      const now = (await storage.getContainerByUuid(c.uuid)) ?? c;
      return { status: 200, body: containerView(now, live, r.host) };
    }, {
      summary: `${action[0].toUpperCase()}${action.slice(1)} a container (409 when its state does not allow it)`, tags, params: ident,
      querystring: graceful.has(action) ? GraceQuery : NoQuery, response: { 200: ContainerSchema, ...refusals(400, 404, 409, 503) },
    });
  }

  router.get('/v1/containers/:ident/logs', async (r) => {
    r.checkQuery();
    let tail: number | null = null;
    if (r.query.tail !== undefined && String(r.query.tail) !== 'all') tail = fieldValue(TailValue, 'tail', r.query.tail) as number;
    let since: string | null = null;
    if (r.query.since !== undefined) {
      since = String(r.query.since);
      const duration = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(since);
      const unix = /^\d+(\.\d{1,9})?$/.test(since);
      const date = /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)?)?$/.test(since) && !Number.isNaN(Date.parse(since));
      if (!duration && !unix && !date) throw E.InvalidInput('since', since, 'Value should be a duration (10m, 1h30m), a Unix timestamp or an RFC 3339 date');
    }
    const timestamps = r.query.timestamps === undefined ? false : fieldValue(LogsQuery, 'timestamps', r.query.timestamps) === true;
    const c = await find(r);
    policy.enforce(r.ctx, 'container:logs', { ...c });
    const out = await conductor.containerLogs(r.ctx, c.uuid, { tail, since, timestamps }, 60_000);
    return { status: 200, body: out };
  }, { summary: "A container's logs (both streams, in order)", tags, params: ident, querystring: LogsQuery, response: { 200: ContainerLogs, ...refusals(400, 404, 409, 503) } });

  const execute = async (r: ApiRequest, command: string | string[], timeout: number) => {
    const c = await find(r);
    policy.enforce(r.ctx, 'container:execute', { ...c });
    const argv = typeof command === 'string' ? shellSplit(command) : command;
    const out = await conductor.containerExec(r.ctx, c.uuid, argv, timeout, (timeout + 20) * 1000);
    return { status: 200, body: out };
  };
  const executed = { 200: ContainerExecution, ...refusals(400, 404, 409, 503) };
  // Magnum 2015: PUT …/execute?command=<command line>.
  router.put('/v1/containers/:ident/execute', async (r) => {
    r.checkQuery();
    if (r.query.command === undefined) throw E.Invalid('Missing argument: "command"');
    const command = checkCommand(String(r.query.command));
    return execute(r, command, r.query.timeout === undefined ? EXEC_DEFAULT_TIMEOUT : (fieldValue(ExecuteQuery, 'timeout', r.query.timeout) as number));
  }, { summary: 'Execute a command in a running container (Magnum 2015\'s form)', tags, params: ident, querystring: ExecuteQuery, response: executed });
  // Ours: POST …/execute {"command": "..." | [...], "timeout": seconds}.
  router.post('/v1/containers/:ident/execute', async (r) => {
    r.checkQuery();
    const input = r.body();
    return execute(r, checkCommand(input.command), (input.timeout as number | null | undefined) ?? EXEC_DEFAULT_TIMEOUT);
  }, { summary: 'Execute a command in a running container: its exit code and output', tags, params: ident, querystring: NoQuery, body: ExecuteBody, response: executed });
}

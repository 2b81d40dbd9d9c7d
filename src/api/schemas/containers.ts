// Route schemas of /v1/containers' answers (src/api/controllers/v1/containers.ts containerView),
// in the views' field order; the requests' schemas are declared next to the routes.
import { Type } from 'typebox';
import { dict, orNull, ownedTail, page, str } from '../schemas.ts';

const command = () => Type.Unsafe<unknown>({
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'null' }],
  description: 'As given: a command line (split as a shell does) or a list of arguments',
});
const environment = dict;
/** Magnum 2015's statuses; Unknown when no engine answered (status_reason says why). */
const status = () => Type.Union(['Error', 'Running', 'Stopped', 'Paused', 'Unknown'].map((s) => Type.Literal(s)));

/** A container as its show, the detail list, its create, PATCH and actions give it (the engine's live status). */
export const Container = Type.Object({
  uuid: Type.String(),
  name: str(),
  image: Type.String(),
  command: command(),
  status: status(),
  status_reason: str(),
  memory: str(),
  cpu: orNull('number'),
  environment: environment(),
  ports: Type.Array(Type.String(), { description: "As given: [host_port:]container_port[/protocol]" }),
  published_ports: Type.Array(Type.String(), { description: 'docker ps style, while running: 10.213.0.11:8080->80/tcp' }),
  restart_policy: str(),
  host: str(),
  bay_uuid: Type.String(),
  cluster_uuid: Type.String(),
  ...ownedTail(),
}, { additionalProperties: false });

/** GET /v1/containers items: some of a container's fields, in this order. */
export const ContainerBrief = Type.Object(Object.fromEntries(
  (['uuid', 'name', 'bay_uuid', 'cluster_uuid', 'image', 'command', 'status', 'memory', 'environment', 'links'] as const).map((k) => [k, Container.properties[k]]),
), { additionalProperties: false });

export const ContainerList = page('containers', ContainerBrief);
export const ContainerDetailList = page('containers', Container);

/** GET /v1/containers/{ident}/logs: both streams, in order. */
export const ContainerLogs = Type.Object({ output: Type.String() }, { additionalProperties: false });

/** A command executed in a container: its exit code, both streams together (output) and apart. */
export const ContainerExecution = Type.Object({
  output: Type.String(),
  exit_code: Type.Integer(),
  stdout: Type.String(),
  stderr: Type.String(),
}, { additionalProperties: false });


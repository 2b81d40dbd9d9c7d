// Containers' values and state rules, shared by the API (validation) and the conductor (the
// docker arguments they become): Magnum 2015's statuses, Docker's memory quantities, image
// references, published ports, restart policies, and commands split the way a shell does.

/** Magnum 2015's container statuses (objects/fields.py ContainerStatus). */
export const ContainerStatus = {
  ERROR: 'Error',
  RUNNING: 'Running',
  STOPPED: 'Stopped',
  PAUSED: 'Paused',
  UNKNOWN: 'Unknown',
} as const;
export type ContainerStatus = (typeof ContainerStatus)[keyof typeof ContainerStatus];

/** Docker's minimum memory limit, which Magnum checked too. */
export const DOCKER_MINIMUM_MEMORY = 4 * 1024 * 1024;

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `<number>[b|k|m|g]` → bytes (Magnum's get_docker_quantity); null when the text is no such quantity. */
export function dockerMemoryBytes(text: string): number | null {
  const m = /^(\d+)([bkmg])?$/i.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()];
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * A Docker image reference: [registry[:port]/]path[:tag][@digest], path components in lower case
 * (distribution/reference's grammar, without its length limits).
 */
export const IMAGE_REFERENCE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** Docker's restart policies: no, always, unless-stopped, on-failure[:max-retries]. */
export const RESTART_POLICY = /^(?:no|always|unless-stopped|on-failure(?::\d{1,9})?)$/;

export interface PortSpec {
  /** null: Docker picks a free port on the node. */
  hostPort: number | null;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/** `[host_port:]container_port[/protocol]`, as `docker run -p` takes it (the address is the node's). */
export function parsePort(spec: string): PortSpec | null {
  const m = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(spec);
  if (!m) return null;
  const hostPort = m[1] === undefined ? null : Number(m[1]);
  const containerPort = Number(m[2]);
  const ok = (p: number) => p >= 1 && p <= 65535;
  if (!ok(containerPort) || (hostPort !== null && !ok(hostPort))) return null;
  return { hostPort, containerPort, protocol: (m[3] ?? 'tcp') as PortSpec['protocol'] };
}

/** What a command line failed on: an unclosed quote (which one), or a backslash at its end. */
export class ShellSplitError extends Error {
  readonly quote: "'" | '"' | null;
  constructor(quote: "'" | '"' | null) {
    super(quote ? 'No closing quotation' : 'No escaped character');
    this.quote = quote;
  }
}

/** Splits a command line like POSIX shlex.split (what docker-py did with a string command). */
export function shellSplit(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShellSplitError("'");
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new ShellSplitError('"');
        const d = text[i];
        if (d === '"') break;
        if (d === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1])) {
          if (text[i + 1] !== '\n') cur += text[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new ShellSplitError(null);
      if (text[i + 1] !== '\n') cur += text[i + 1];
      inWord = true;
      i += 2;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** The argument vector of a stored command (a string is split like a shell does). */
export function commandArgs(command: string | readonly string[] | null | undefined): string[] {
  if (command === null || command === undefined) return [];
  return typeof command === 'string' ? shellSplit(command) : [...command];
}

/** What the engine says of a container right now (the conductor's answer to the API). */
export interface ContainerLive {
  status: ContainerStatus;
  status_reason: string | null;
  /** docker ps style: "10.213.0.11:8080->80/tcp". */
  published_ports: string[];
}

/** What `docker inspect` says of a container's state. */
export interface DockerState {
  Status?: string;
  Running?: boolean;
  Paused?: boolean;
  Restarting?: boolean;
  OOMKilled?: boolean;
  Dead?: boolean;
  ExitCode?: number;
  Error?: string;
  StartedAt?: string;
  FinishedAt?: string;
}

/** Magnum's status of a Docker state, and a reason in Docker's words. */
export function statusOf(state: DockerState): { status: ContainerStatus; reason: string } {
  const s = state.Status ?? '';
  if (state.Dead || s === 'dead') return { status: 'Error', reason: `dead${state.Error ? `: ${state.Error}` : ''}` };
  if (state.Paused) return { status: 'Paused', reason: 'paused' };
  if (state.Restarting) return { status: 'Running', reason: 'restarting' };
  if (state.Running) return { status: 'Running', reason: 'running' };
  if (state.Error) return { status: 'Error', reason: state.Error };
  if (s === 'exited') return { status: 'Stopped', reason: `exited (${state.ExitCode ?? 0})${state.OOMKilled ? ', out of memory' : ''}` };
  return { status: 'Stopped', reason: s || 'created' };
}

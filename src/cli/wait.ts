// `--wait`: follow an operation until it ends, showing the status, the latest event of the
// cluster's timeline (GET /v1/clusters/{uuid}/events) and the elapsed time. On a terminal that is
// one line redrawn in place; otherwise one plain line per event and status change, so logs and
// CI output read well. Ends with the final status, or an OperationFailed carrying status_reason.
import type { ApiClient } from './api-client.ts';
import { ApiError, CommandError, OperationFailed } from './errors.ts';
import type { Writer } from './output.ts';

export interface ClusterEvent {
  id: number;
  operation_id: string | null;
  step: string;
  outcome: 'started' | 'succeeded' | 'failed' | 'info' | string;
  message: string | null;
  created_at: string;
}

export interface WaitSettings {
  /** Seconds between polls. */
  interval: number;
  /** Give up after this many seconds (0: never). */
  timeout: number;
  /** Progress goes here (stderr); a terminal gets the live line. */
  progress: Writer;
  /** The final line goes here (stdout). */
  result: Writer;
}

/** What is being waited for: the object's status, and which statuses end the wait. */
export interface WaitTarget {
  /** e.g. `cluster demo`, `nodegroup ng1 of demo`. */
  label: string;
  /** The cluster whose timeline to show. */
  clusterUuid: string;
  /** Only events with an id above this one (the timeline before the request). */
  eventsAfter: number;
  /** The current record; null when it is gone (404). */
  fetch(): Promise<Record<string, any> | null>;
  /** Waiting for the object to disappear (delete). */
  untilGone?: boolean;
  /** The status that means success (otherwise: any status that is not *_IN_PROGRESS and not *_FAILED). */
  success?: string;
}

const SPINNER_UTF8 = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SPINNER_ASCII = ['|', '/', '-', '\\'];

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** One event as a short phrase: `boot masters: started`, `form swarm: succeeded in 3.2 s`. */
export function describeEvent(e: ClusterEvent, startedAt?: string): string {
  switch (e.outcome) {
    case 'started':
      return `${e.step}: started${e.message ? ` (${e.message})` : ''}`;
    case 'succeeded': {
      const took = startedAt ? (Date.parse(e.created_at) - Date.parse(startedAt)) / 1000 : NaN;
      return `${e.step}: succeeded${Number.isFinite(took) && took >= 0 ? ` in ${took.toFixed(1)} s` : ''}${e.message ? ` (${e.message})` : ''}`;
    }
    case 'failed':
      return `${e.step}: failed${e.message ? `: ${e.message}` : ''}`;
    default:
      return e.message ? `${e.step}: ${e.message}` : e.step;
  }
}

/** Every event of a cluster after `after` (following `next` pages). */
export async function fetchEvents(api: ApiClient, clusterUuid: string, after: number): Promise<ClusterEvent[]> {
  const out: ClusterEvent[] = [];
  let marker = after;
  for (;;) {
    const body = await api.get<{ events: ClusterEvent[]; next?: string }>(`/v1/clusters/${clusterUuid}/events${marker > 0 ? `?marker=${marker}` : ''}`);
    const page = body?.events ?? [];
    out.push(...page);
    if (!body?.next || !page.length) return out;
    marker = page[page.length - 1].id;
  }
}

/** The id of the newest event of a cluster (0 when none or the server has no timeline). */
export async function lastEventId(api: ApiClient, clusterUuid: string): Promise<number> {
  try {
    const events = await fetchEvents(api, clusterUuid, 0);
    return events.length ? events[events.length - 1].id : 0;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return 0;
    throw err;
  }
}

class ProgressLine {
  readonly #out: Writer;
  readonly #tty: boolean;
  readonly #label: string;
  readonly #t0: number;
  readonly #spinner: string[];
  readonly #utf8: boolean;
  #frame = 0;
  #status = '';
  #event = '';
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(out: Writer, label: string, t0: number) {
    this.#out = out;
    this.#tty = Boolean(out.isTTY);
    this.#label = label;
    this.#t0 = t0;
    this.#utf8 = /utf-?8/i.test(`${process.env.LC_ALL ?? ''}${process.env.LC_CTYPE ?? ''}${process.env.LANG ?? ''}`);
    this.#spinner = this.#utf8 ? SPINNER_UTF8 : SPINNER_ASCII;
    if (this.#tty) {
      this.#timer = setInterval(() => this.#draw(), 120);
      this.#timer.unref();
    }
  }

  get #elapsed(): string {
    return formatElapsed(Date.now() - this.#t0);
  }

  #draw(): void {
    this.#frame = (this.#frame + 1) % this.#spinner.length;
    const parts = [`${this.#spinner[this.#frame]} ${this.#label}: ${this.#status || '…'}`];
    if (this.#event) parts.push(this.#event);
    parts.push(this.#elapsed);
    let line = parts.join('  |  ');
    const width = (this.#out.columns || Number(process.env.COLUMNS) || 80) - 1;
    if ([...line].length > width) line = `${[...line].slice(0, Math.max(0, width - 1)).join('')}…`;
    this.#out.write(`\r\x1b[2K${line}`);
  }

  /**
   * A poll's news: the events since the last one (shown with the status they happened under), then
   * the status. On a terminal, finished steps stay as lines above the live line.
   */
  update(status: string, events: ClusterEvent[], describe: (e: ClusterEvent) => string): void {
    const changed = status !== this.#status;
    if (!this.#status) this.#status = status;
    if (events.length) this.#event = describe(events[events.length - 1]);
    for (const e of events) {
      if (!this.#tty) this.#out.write(`[${this.#elapsed}] ${this.#label}: ${this.#status}  ${describe(e)}\n`);
      else if (e.outcome === 'succeeded' || e.outcome === 'failed') {
        const mark = e.outcome === 'succeeded' ? (this.#utf8 ? '✔' : 'ok') : (this.#utf8 ? '✖' : '!!');
        this.#out.write(`\r\x1b[2K  ${mark} ${describe(e)}\n`);
      }
    }
    if (changed && this.#status !== status) {
      this.#status = status;
      if (!this.#tty) this.#out.write(`[${this.#elapsed}] ${this.#label}: ${status}\n`);
    }
    if (this.#tty) this.#draw();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#tty) this.#out.write('\r\x1b[2K');
  }
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  if (signal.aborted) {
    resolve();
    return;
  }
  const done = () => {
    clearTimeout(t);
    signal.removeEventListener('abort', done);
    resolve();
  };
  const t = setTimeout(done, ms);
  signal.addEventListener('abort', done, { once: true });
});

/** Follows `target` until it ends; resolves with the last record (null when it is gone). */
export async function waitFor(api: ApiClient, target: WaitTarget, s: WaitSettings): Promise<Record<string, any> | null> {
  const t0 = Date.now();
  const line = new ProgressLine(s.progress, target.label, t0);
  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  process.once('SIGINT', onSigint);
  let after = target.eventsAfter;
  let timeline = true;
  const started = new Map<string, string>();
  let lastFailure = '';
  let record: Record<string, any> | null = null;
  try {
    for (;;) {
      record = await target.fetch();
      const news: ClusterEvent[] = [];
      if (timeline) {
        try {
          for (const e of await fetchEvents(api, target.clusterUuid, after)) {
            after = Math.max(after, e.id);
            if (e.outcome === 'started') started.set(e.step, e.created_at);
            if (e.outcome === 'failed' && e.message) lastFailure = e.message;
            news.push(e);
          }
        } catch (err) {
          // A cluster that is gone has no timeline any more; an older server never had one.
          if (!(err instanceof ApiError && (err.status === 404 || err.status === 405))) throw err;
          if (record) timeline = false;
        }
      }
      line.update(record ? String(record.status ?? '') : 'deleted', news, (e) => describeEvent(e, started.get(e.step)));
      if (!record) {
        if (target.untilGone) {
          line.stop();
          s.result.write(`${capitalize(target.label)} deleted (${formatElapsed(Date.now() - t0)}).\n`);
          return null;
        }
        throw new CommandError(`${capitalize(target.label)} disappeared while waiting for it.`);
      }
      const status = String(record.status ?? '');
      if (/(^|_)FAILED$/.test(status)) {
        line.stop();
        const reason = record.status_reason || lastFailure || 'no reason given';
        throw new OperationFailed(`${capitalize(target.label)} is ${status} after ${formatElapsed(Date.now() - t0)}: ${reason}`);
      }
      const done = target.untilGone ? false : target.success ? status === target.success : !/(^|_)IN_PROGRESS$/.test(status) && status !== '';
      if (done) {
        line.stop();
        s.result.write(`${capitalize(target.label)} is ${status} (${formatElapsed(Date.now() - t0)}).\n`);
        return record;
      }
      if (s.timeout > 0 && Date.now() - t0 > s.timeout * 1000) {
        line.stop();
        throw new OperationFailed(`Gave up waiting after ${formatElapsed(Date.now() - t0)}: ${target.label} is still ${status}. The operation goes on; follow it with \`coe cluster events ${target.clusterUuid} --follow\`.`);
      }
      await sleep(s.interval * 1000, interrupted.signal);
      if (interrupted.signal.aborted) {
        line.stop();
        throw new CommandError(`Stopped waiting: ${target.label} is ${status}; the operation continues on the server.`, 130);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    line.stop();
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

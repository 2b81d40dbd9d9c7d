// The conductor's client of a cluster's Kubernetes API: @kubernetes/client-node (the Kubernetes
// project's own client for JavaScript, generated from the API's OpenAPI document, so every call and
// object has its type; 1.x, as 2.x needs Node 22) over the cluster's api_address, with the
// conductor's client certificate (CN=admin, O=system:masters) from WorkloadAccess.credentials().
// The KubeConfig is built in memory: no kubeconfig or key file is ever written.
//
// Errors become MagnumErrors, so the API answers in Magnum's format:
//   404 on a read or delete          null / done (the KubernetesClient contract); 409 on a delete
//                                    (its uid precondition: another object of that name) done
//   400, 422 (invalid object), 413   400 with Kubernetes' own message
//   404 on create or replace, 409, 410   409 with Kubernetes' own message (already exists, conflict)
//   401, 403                         503: the cluster refused the conductor's credentials (not the user's doing)
//   429, 5xx, no answer within the timeout, refused or failed connections, TLS failures
//                                    503 ServiceUnavailable naming the cluster and its address
import { AbortError, CoreV1Api, FetchError, KubeConfig, PatchStrategy, createConfiguration, ServerConfiguration, ApiException, setHeaderOptions } from '@kubernetes/client-node';
import { E, MagnumError } from '../../common/errors.ts';
import type { KubeObject, KubernetesClient } from '../kubernetes-objects.ts';
import type { TlsMaterial } from '../driver.ts';

/** Bounds of one request to the Kubernetes API (connection, answer and body). */
export const READ_TIMEOUT_MS = 15_000;
export const WRITE_TIMEOUT_MS = 30_000;

export interface KubeClientOptions {
  /** https://host:port (http:// only for a cluster without TLS). */
  server: string;
  /** Shown in error messages: the cluster's name or uuid. */
  clusterLabel: string;
  /** The cluster CA and the conductor's client certificate and key; null: no TLS client authentication. */
  tls: TlsMaterial | null;
  readTimeoutMs?: number;
  writeTimeoutMs?: number;
}

const b64 = (pem: string) => Buffer.from(pem.endsWith('\n') ? pem : `${pem}\n`).toString('base64');

/** A KubeConfig of one cluster and one user, in memory. */
export function kubeConfig(opts: Pick<KubeClientOptions, 'server' | 'tls'>): KubeConfig {
  const kc = new KubeConfig();
  const plain = opts.server.startsWith('http:');
  kc.loadFromOptions({
    clusters: [{
      name: 'cluster', server: opts.server, skipTLSVerify: plain,
      ...(opts.tls ? { caData: b64(opts.tls.caPem) } : {}),
    }],
    users: [{ name: 'magnum', ...(opts.tls ? { certData: b64(opts.tls.certificate), keyData: b64(opts.tls.privateKey) } : {}) }],
    contexts: [{ name: 'magnum', cluster: 'cluster', user: 'magnum', namespace: 'default' }],
    currentContext: 'magnum',
  });
  return kc;
}

/** What Kubernetes said in an error: its Status object's message, else the body as text. */
function kubeMessage(body: unknown): string {
  let b = body;
  if (typeof b === 'string') {
    try {
      b = JSON.parse(body as string);
    } catch {
      return (body as string).trim().slice(0, 1000) || 'no reason given';
    }
  }
  if (b && typeof b === 'object' && typeof (b as { message?: unknown }).message === 'string') return (b as { message: string }).message;
  return 'no reason given';
}

export type KubeCall = 'read' | 'create' | 'replace' | 'delete';

/**
 * The MagnumError for a failed call of `what` (e.g. "pod web"), or null when the object does not
 * exist and the call may say so (read, delete).
 */
export function mapKubeError(err: unknown, call: KubeCall, what: string, cluster: { label: string; server: string }): MagnumError | null {
  if (err instanceof MagnumError) return err;
  const where = `(${cluster.server})`;
  if (err instanceof ApiException) {
    const code = err.code;
    const msg = kubeMessage(err.body);
    if (code === 404 && (call === 'read' || call === 'delete')) return null;
    // A delete's uid precondition failed: the object of that name is another one, left alone.
    if (code === 409 && call === 'delete') return null;
    if (code === 400 || code === 422 || code === 413) return E.Invalid(`Kubernetes refused ${what}: ${msg}`);
    if (code === 404 || code === 409 || code === 410) return E.Conflict(`Kubernetes refused ${what}: ${msg}`);
    if (code === 401 || code === 403) {
      return E.ServiceUnavailable(`The Kubernetes API of cluster ${cluster.label} refused the conductor's credentials: ${msg} ${where}`);
    }
    return E.ServiceUnavailable(`The Kubernetes API of cluster ${cluster.label} failed (HTTP ${code}): ${msg} ${where}`);
  }
  if (err instanceof AbortError || (err as { name?: string })?.name === 'AbortError' || (err as { name?: string })?.name === 'TimeoutError') {
    return E.ServiceUnavailable(`The Kubernetes API of cluster ${cluster.label} did not answer in time ${where}.`);
  }
  if (err instanceof FetchError || (err as { code?: unknown })?.code) {
    const code = (err as { code?: string }).code ?? '';
    const reason = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/i.test(code) ? `its certificate was not accepted (${code})` : code || (err as Error).message;
    return E.ServiceUnavailable(`The Kubernetes API of cluster ${cluster.label} cannot be reached: ${reason} ${where}.`);
  }
  return E.ServiceUnavailable(`The Kubernetes API of cluster ${cluster.label} cannot be reached: ${(err as Error)?.message ?? String(err)} ${where}.`);
}

/** An API client whose every request (connection, answer and body) must be done within `ms`. */
function apiWithDeadline(kc: KubeConfig, server: string, ms: number): CoreV1Api {
  return new CoreV1Api(createConfiguration({
    baseServer: new ServerConfiguration(server.replace(/\/+$/, ''), {}),
    authMethods: { default: kc },
    promiseMiddleware: [{
      pre: async (ctx) => {
        ctx.setSignal(AbortSignal.timeout(ms));
        return ctx;
      },
      post: async (ctx) => ctx,
    }],
  }));
}

/** KubernetesClient over @kubernetes/client-node. */
export class KubeClient implements KubernetesClient {
  /** Reads, and writes (which may take longer), each with its own deadline. */
  readonly #read: CoreV1Api;
  readonly #write: CoreV1Api;
  readonly #cluster: { label: string; server: string };

  constructor(opts: KubeClientOptions) {
    const kc = kubeConfig(opts);
    this.#read = apiWithDeadline(kc, opts.server, opts.readTimeoutMs ?? READ_TIMEOUT_MS);
    this.#write = apiWithDeadline(kc, opts.server, opts.writeTimeoutMs ?? WRITE_TIMEOUT_MS);
    this.#cluster = { label: opts.clusterLabel, server: opts.server };
  }

  async #call<T>(call: KubeCall, what: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      const mapped = mapKubeError(err, call, what, this.#cluster);
      if (mapped) throw mapped;
      return null;
    }
  }

  async #must<T>(call: KubeCall, what: string, fn: () => Promise<T>): Promise<T> {
    const r = await this.#call(call, what, fn);
    if (r === null) throw E.Conflict(`Kubernetes refused ${what}: it does not exist.`);
    return r;
  }

  createPod(namespace: string, manifest: KubeObject): Promise<KubeObject> {
    return this.#must('create', `pod ${manifest.metadata?.name ?? ''}`, () => this.#write.createNamespacedPod({ namespace, body: manifest })) as Promise<KubeObject>;
  }

  readPod(namespace: string, name: string): Promise<KubeObject | null> {
    return this.#call('read', `pod ${name}`, () => this.#read.readNamespacedPod({ namespace, name })) as Promise<KubeObject | null>;
  }

  /**
   * Most of a Pod's spec cannot change once it exists, and the API server fills in fields
   * (node, service account volumes) that a manifest does not carry; so a new manifest is applied
   * as a strategic merge patch, as `kubectl apply` does: what it says is set, containers are
   * matched by name, and Kubernetes refuses (400) a change it does not allow on a running pod.
   */
  replacePod(namespace: string, name: string, manifest: KubeObject): Promise<KubeObject> {
    const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
    return this.#must('replace', `pod ${name}`, () => this.#write.patchNamespacedPod({ namespace, name, body: manifest }, strategic)) as Promise<KubeObject>;
  }

  async deletePod(namespace: string, name: string, uid?: string): Promise<void> {
    await this.#call('delete', `pod ${name}`, () => this.#write.deleteNamespacedPod({ namespace, name, body: uid ? { preconditions: { uid } } : undefined }));
  }

  createService(namespace: string, manifest: KubeObject): Promise<KubeObject> {
    return this.#must('create', `service ${manifest.metadata?.name ?? ''}`, () => this.#write.createNamespacedService({ namespace, body: manifest })) as Promise<KubeObject>;
  }

  readService(namespace: string, name: string): Promise<KubeObject | null> {
    return this.#call('read', `service ${name}`, () => this.#read.readNamespacedService({ namespace, name })) as Promise<KubeObject | null>;
  }

  /** A Service is replaced whole (its cluster IP and node ports are kept by the API server when the manifest has none). */
  replaceService(namespace: string, name: string, manifest: KubeObject): Promise<KubeObject> {
    return this.#must('replace', `service ${name}`, () => this.#write.replaceNamespacedService({ namespace, name, body: manifest })) as Promise<KubeObject>;
  }

  async deleteService(namespace: string, name: string, uid?: string): Promise<void> {
    await this.#call('delete', `service ${name}`, () => this.#write.deleteNamespacedService({ namespace, name, body: uid ? { preconditions: { uid } } : undefined }));
  }
}

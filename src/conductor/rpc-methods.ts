// RPC methods beyond the lifecycle ones: each feature module (containers, services, images)
// exports a function that returns its methods; the conductor service dispatches to them.
import type { Logger } from 'pino';
import type { Config } from '../conf/index.ts';
import type { Storage } from '../db/api.ts';
import type { ClientCredentialFiles } from './credential-files.ts';
import type { TaskOperations } from './tasks.ts';

export type RpcMethod = (args: Record<string, unknown>, context: Record<string, unknown>) => Promise<unknown>;
export type RpcMethods = Record<string, RpcMethod>;

export interface MethodDeps {
  conf: Config;
  storage: Storage;
  /** The conductor's client certificate files of each cluster (WorkloadAccess.tlsFiles). */
  credentialFiles: ClientCredentialFiles;
  /** Task operations (container actions, service changes): their handlers register here. */
  tasks: TaskOperations;
  logger?: Logger;
}

// Converting between records and the rows each database returns: booleans come back as 0/1
// from SQLite and MariaDB, timestamps as text from SQLite, JSON columns as text everywhere.
import type { Connection } from './connection.ts';

export interface TableShape {
  bools: readonly string[];
  dicts: readonly string[];
  lists: readonly string[];
  times: readonly string[];
}

const TS = ['created_at', 'updated_at'];

export const SHAPES = {
  cluster_template: { bools: ['registry_enabled', 'tls_disabled', 'public', 'master_lb_enabled', 'floating_ip_enabled', 'hidden'], dicts: ['labels'], lists: [], times: TS },
  cluster: { bools: ['floating_ip_enabled', 'master_lb_enabled'], dicts: ['labels', 'health_status_reason'], lists: [], times: TS },
  nodegroup: { bools: ['is_default'], dicts: ['labels'], lists: ['node_addresses'], times: TS },
  quotas: { bools: [], dicts: [], lists: [], times: TS },
  magnum_service: { bools: ['disabled', 'forced_down'], dicts: [], lists: [], times: [...TS, 'last_seen_up'] },
  federation: { bools: [], dicts: ['properties'], lists: ['member_ids'], times: TS },
  x509keypair: { bools: [], dicts: [], lists: [], times: TS },
  operation: { bools: [], dicts: ['params'], lists: [], times: [...TS, 'lease_expires_at', 'deadline_at'] },
  cluster_event: { bools: [], dicts: [], lists: [], times: ['created_at'] },
  cluster_resource: { bools: [], dicts: ['details'], lists: [], times: TS },
  cluster_workload: { bools: [], dicts: ['manifest'], lists: [], times: TS },
  container: { bools: [], dicts: ['environment'], lists: ['ports'], times: TS },
  image_load: { bools: [], dicts: [], lists: [], times: [...TS, 'lease_expires_at', 'deadline_at'] },
} satisfies Record<string, TableShape>;

export type TableName = keyof typeof SHAPES;

/** Column names per table, for sort_key validation ("any DB column of the table"). */
export const COLUMNS: Record<string, readonly string[]> = {
  cluster_template: ['id', 'created_at', 'updated_at', 'uuid', 'project_id', 'user_id', 'name', 'image_id', 'flavor_id', 'master_flavor_id', 'keypair_id', 'external_network_id', 'fixed_network', 'fixed_subnet', 'network_driver', 'volume_driver', 'dns_nameserver', 'apiserver_port', 'docker_volume_size', 'docker_storage_driver', 'cluster_distro', 'coe', 'http_proxy', 'https_proxy', 'no_proxy', 'registry_enabled', 'labels', 'tls_disabled', 'public', 'server_type', 'insecure_registry', 'master_lb_enabled', 'floating_ip_enabled', 'hidden', 'tags'],
  cluster: ['id', 'created_at', 'updated_at', 'uuid', 'project_id', 'user_id', 'name', 'cluster_template_id', 'keypair', 'docker_volume_size', 'labels', 'master_flavor_id', 'flavor_id', 'stack_id', 'api_address', 'status', 'status_reason', 'health_status', 'health_status_reason', 'create_timeout', 'discovery_url', 'trust_id', 'trustee_username', 'trustee_user_id', 'trustee_password', 'coe_version', 'container_version', 'ca_cert_ref', 'magnum_cert_ref', 'etcd_ca_cert_ref', 'front_proxy_ca_cert_ref', 'fixed_network', 'fixed_subnet', 'floating_ip_enabled', 'master_lb_enabled'],
  nodegroup: ['id', 'created_at', 'updated_at', 'uuid', 'name', 'cluster_id', 'project_id', 'docker_volume_size', 'labels', 'flavor_id', 'image_id', 'node_addresses', 'node_count', 'role', 'max_node_count', 'min_node_count', 'is_default', 'stack_id', 'status', 'status_reason', 'version'],
  quotas: ['id', 'created_at', 'updated_at', 'project_id', 'resource', 'hard_limit'],
  federation: ['id', 'created_at', 'updated_at', 'uuid', 'project_id', 'name', 'hostcluster_id', 'member_ids', 'status', 'status_reason', 'properties'],
  cluster_workload: ['id', 'created_at', 'updated_at', 'uuid', 'name', 'project_id', 'user_id', 'cluster_id'],
  container: ['id', 'created_at', 'updated_at', 'uuid', 'name', 'project_id', 'user_id', 'cluster_id', 'image', 'command', 'memory', 'cpu', 'environment', 'ports', 'restart_policy', 'host', 'docker_id', 'status'],
};

const toDate = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));

const BOOL = 1;
const TIME = 2;
const DICT = 3;
const LIST = 4;
const ID = 5;
/** Per table, how each converted column is read (built once: fromRow runs for every row read). */
const KINDS = Object.fromEntries(Object.entries(SHAPES).map(([table, shape]: [string, TableShape]) => {
  const kinds = new Map<string, number>([['id', ID]]);
  for (const c of shape.bools) kinds.set(c, BOOL);
  for (const c of shape.times) kinds.set(c, TIME);
  for (const c of shape.dicts) kinds.set(c, DICT);
  for (const c of shape.lists) kinds.set(c, LIST);
  return [table, kinds];
})) as Record<TableName, Map<string, number>>;

export function fromRow<T>(table: TableName, row: Record<string, unknown>): T {
  const kinds = KINDS[table];
  const out: Record<string, unknown> = {};
  for (const k in row) {
    const v = row[k];
    switch (kinds.get(k)) {
      case BOOL: out[k] = v === null ? null : Boolean(Number(v)); break;
      case TIME: out[k] = toDate(v); break;
      case DICT: out[k] = v ? JSON.parse(String(v)) ?? {} : {}; break;
      case LIST: out[k] = v ? JSON.parse(String(v)) ?? [] : []; break;
      case ID: out[k] = typeof v === 'number' ? v : Number(v); break;
      default: out[k] = v;
    }
  }
  return out as T;
}

export function toRow(conn: Connection, table: TableName, values: Record<string, unknown>): Record<string, unknown> {
  const shape: TableShape = SHAPES[table];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    if (v === null) out[k] = null;
    else if (shape.bools.includes(k)) out[k] = conn.bool(Boolean(v));
    else if (shape.times.includes(k)) out[k] = conn.time(v as Date);
    else if (shape.dicts.includes(k) || shape.lists.includes(k)) out[k] = JSON.stringify(v);
    else out[k] = v;
  }
  return out;
}

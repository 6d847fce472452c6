/** One control-plane replica as `GET /api/v1/replicas` and `gpufleet replicas ls` show it. */
export interface ReplicaView {
  name: string;
  /** Random per process start: a replica restarted under the same name is a new instance. */
  instance: string;
  /** Where agents and CLIs reach it ('' until it listens). */
  url: string;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms of its last renewal, by its own clock. */
  heartbeatAt: number;
  /** Agent sessions it holds. */
  agents: number;
  /** Singleton roles whose lease it holds: alerts, retention, pools, scheduler. */
  leases: string[];
  version: string;
  /** The replica that answered. */
  self: boolean;
}

export interface ReplicaList {
  /** The live replicas, the one that answered first. */
  replicas: ReplicaView[];
}

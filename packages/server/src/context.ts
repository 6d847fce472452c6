import type { FastifyBaseLogger } from 'fastify';
import type { SshHostsService } from './ssh-hosts/ssh-hosts-service.js';
import type { PromoteService } from './ssh-hosts/promote.js';
import type { ServerConfig } from './config/server-config.js';
import type { Store } from './store/store.js';
import type { Clock } from './clock.js';
import type { EventHub } from './events/event-hub.js';
import type { NodeRegistry } from './services/node-registry.js';
import type { NodeViews } from './services/node-views.js';
import type { NodeDrains } from './services/node-drains.js';
import type { ApiTokenService } from './auth/api-tokens.js';
import type { JoinTokenService } from './services/join-tokens.js';
import type { EnrollmentService } from './services/enrollment.js';
import type { AuditLog } from './services/audit-log.js';
import type { AgentGateway } from './gateway/agent-gateway.js';
import type { GatewayStats } from './gateway/gateway-stats.js';
import type { MetricStore } from './metrics/metric-store.js';
import type { MetricReads } from './replicas/metric-reads.js';
import type { HealthEngine } from './health/health-engine.js';
import type { AlertEngine } from './alerts/alert-engine.js';
import type { RunService } from './runs/run-service.js';
import type { WorkloadService } from './workloads/workload-service.js';
import type { WorkloadReads } from './workloads/workload-reads.js';
import type { Trust } from './trust/index.js';
import type { ScriptLibrary } from './scripts/script-library.js';
import type { PoolsApi } from './pools/pools-api.js';
import type { PlayService } from './plays/play-service.js';
import type { TemplateService } from './plays/template-service.js';
import type { GroupsService } from './groups/groups-service.js';
import type { ReplicaStatus } from './replicas/replica-status.js';
import type { ReleaseRepository } from './releases/release-repository.js';
import type { RolloutService } from './rollouts/rollout-service.js';

/** Everything the adapters (REST routes, agent gateway) need; built once by the service graph (app/). */
export interface ServerContext {
  config: ServerConfig;
  store: Store;
  clock: Clock;
  hub: EventHub;
  registry: NodeRegistry;
  /** What the API shows of a node (record, liveness, readings, states, verdicts). */
  views: NodeViews;
  /** Drains that wait for the work running on a node. */
  drains: NodeDrains;
  apiTokens: ApiTokenService;
  joinTokens: JoinTokenService;
  enrollment: EnrollmentService;
  audit: AuditLog;
  gateway: AgentGateway;
  stats: GatewayStats;
  metrics: MetricStore;
  /** Series and sparklines of any node: from this replica's rings, or asked of the replica holding it. */
  metricReads: MetricReads;
  /** Health judgement: verdicts, findings, timeline; node/GPU states are registry.states. */
  health: HealthEngine;
  alerts: AlertEngine;
  /** Command fan-out: signed runs over many hosts. */
  runs: RunService;
  /** Workloads: jobs, their allocations, placement, delivery and supervision. */
  workloads: WorkloadService;
  /** What the API shows of jobs, allocations and their output. */
  workloadReads: WorkloadReads;
  /** Fleet roots, capabilities, revocations, the control plane's own key, trust frames. */
  trust: Trust;
  /** The signed script library; `scripts.lookup` is the runs service's scriptLookup. */
  scripts: ScriptLibrary;
  /** Pools and providers: list, apply a pools file, scale, replace a node, events. */
  pools: PoolsApi;
  /** Nodes managed over SSH (issue 12): add, list, facts, host keys, credential rotation. */
  sshHosts: SshHostsService;
  /** `nodes promote`: an SSH node becomes an agent host (issue 12). */
  promote: PromoteService;
  /** Node groups and layered variables (issue 12). */
  groups: GroupsService;
  /** Playbook templates and plays (issue 12). */
  templates: TemplateService;
  plays: PlayService;
  /** Signed releases: the TUF repository (issue 14). */
  releases: ReleaseRepository;
  /** Rollouts of signed releases (issue 14). */
  rollouts: RolloutService;
  caPem: string | null;
  log: FastifyBaseLogger;
  /** The control-plane replicas (one in the embedded mode). */
  replicas: ReplicaStatus;
  startedAt: number;
}

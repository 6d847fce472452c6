import type { FastifyBaseLogger } from 'fastify';
import type { ServerConfig } from '../config/server-config.js';
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import type { ServerTls } from '../tls/index.js';
import type { EventHub } from '../events/event-hub.js';
import type { MetricStore } from '../metrics/metric-store.js';
import type { MetricReads } from '../replicas/metric-reads.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { NodeViews } from '../services/node-views.js';
import type { NodeDrains } from '../services/node-drains.js';
import type { ApiTokenService } from '../auth/api-tokens.js';
import type { JoinTokenService } from '../services/join-tokens.js';
import type { EnrollmentService } from '../services/enrollment.js';
import type { AuditLog } from '../services/audit-log.js';
import type { AuditCheckpointer } from '../audit/audit-checkpointer.js';
import type { AgentGateway } from '../gateway/agent-gateway.js';
import type { AgentSessions } from '../gateway/agent-sessions.js';
import type { EventWriter } from '../gateway/event-writer.js';
import type { EventRetention } from '../events/event-retention.js';
import type { PrivateDirReport } from '../store/private-data-dir.js';
import type { GatewayStats } from '../gateway/gateway-stats.js';
import type { HealthEngine, HealthPolicy } from '../health/index.js';
import type { AlertEngine, AlertRuleSet } from '../alerts/index.js';
import type { RunService } from '../runs/run-service.js';
import type { WorkloadService } from '../workloads/workload-service.js';
import type { Trust } from '../trust/index.js';
import type { ScriptLibrary } from '../scripts/script-library.js';
import type { App } from '../http/app.js';
import type { Interval } from './interval.js';
import type { PublicUrl } from './public-url.js';
import type { MetricsIngest } from './metrics-ingest.js';
import type { AgentEventRouter } from './agent-event-router.js';
import type { AdminBootstrap } from './admin-bootstrap.js';
import type { HttpListener } from './http-listener.js';
import type { PoolManager } from '../pools/pool-manager.js';
import type { ProviderFactories } from '../pools/providers/cloud-provider.js';
import type { GroupsService } from '../groups/groups-service.js';
import type { SshTransport } from '../ssh/ssh-transport.js';
import type { SshHostsService } from '../ssh-hosts/ssh-hosts-service.js';
import type { PromoteService } from '../ssh-hosts/promote.js';
import type { PlayService } from '../plays/play-service.js';
import type { TemplateService } from '../plays/template-service.js';
import type { Bus } from '../bus/bus.js';
import type { ReplicaDirectory } from '../replicas/replica-directory.js';
import type { LeaseSet } from '../replicas/leases.js';
import type { ReplicaStatus } from '../replicas/replica-status.js';
import type { NoticeLedger } from '../alerts/notice-ledger.js';
import type { SessionOwners } from '../replicas/session-owners.js';
import type { FrameRelay } from '../replicas/frame-relay.js';
import type { ReplicaBridge } from '../replicas/replica-bridge.js';
import type { RunFollowers } from '../replicas/run-followers.js';
import type { ReleaseRepository } from '../releases/release-repository.js';
import type { RolloutService } from '../rollouts/rollout-service.js';
import { serviceRef } from './service-ref.js';

/** Every service of the control plane by name: the graph's vocabulary (server-services.ts defines them). */
export const refs = {
  // Known before boot.
  config: serviceRef<ServerConfig>('config'),
  clock: serviceRef<Clock>('clock'),
  alertRules: serviceRef<AlertRuleSet>('alert-rules'),
  healthPolicy: serviceRef<HealthPolicy>('health-policy'),
  /** Provider adapters by type: the builtin ones with StartOptions.providers over them (sim). */
  providerFactories: serviceRef<ProviderFactories>('provider-factories'),
  // Foundations.
  /** The data dir, made private (0700, our files 0600) and checked before anything is written in it. */
  dataDir: serviceRef<PrivateDirReport>('data-dir'),
  store: serviceRef<Store>('store'),
  tls: serviceRef<ServerTls | null>('tls'),
  publicUrl: serviceRef<PublicUrl>('public-url'),
  hub: serviceRef<EventHub>('hub'),
  metrics: serviceRef<MetricStore>('metrics'),
  audit: serviceRef<AuditLog>('audit'),
  apiTokens: serviceRef<ApiTokenService>('api-tokens'),
  http: serviceRef<App>('http'),
  log: serviceRef<FastifyBaseLogger>('log'),
  trust: serviceRef<Trust>('trust'),
  checkpointer: serviceRef<AuditCheckpointer>('audit-checkpointer'),
  adminBootstrap: serviceRef<AdminBootstrap>('admin-bootstrap'),
  // Replicas (issue 13).
  /** This process among the replicas: its name and a random instance id per start. */
  replica: serviceRef<{ name: string; instance: string }>('replica'),
  /** NATS with --bus, else in-process (one replica): the same code either way. */
  bus: serviceRef<Bus>('bus'),
  /** The live replicas, each renewing its entry every beat (`replicas ls`). */
  replicaDirectory: serviceRef<ReplicaDirectory>('replica-directory'),
  /** Leases with fencing for the loops that must run on one replica (alerts, retention, pools, scheduler). */
  leases: serviceRef<LeaseSet>('leases'),
  /** Which replica holds each agent's session. */
  sessionOwners: serviceRef<SessionOwners>('session-owners'),
  /** Which replica follows each active run. */
  runFollowers: serviceRef<RunFollowers>('run-followers'),
  /** Frames for sessions another replica holds. */
  frameRelay: serviceRef<FrameRelay>('frame-relay'),
  /** Metric history of nodes held elsewhere, asked of their holder. */
  metricReads: serviceRef<MetricReads>('metric-reads'),
  /** Node changes, metric deltas and run reports passed between replicas. */
  replicaBridge: serviceRef<ReplicaBridge>('replica-bridge'),
  // Fleet.
  registry: serviceRef<NodeRegistry>('registry'),
  joinTokens: serviceRef<JoinTokenService>('join-tokens'),
  enrollment: serviceRef<EnrollmentService>('enrollment'),
  scripts: serviceRef<ScriptLibrary>('scripts'),
  sessions: serviceRef<AgentSessions>('agent-sessions'),
  /** The replica set as routes and /metrics show it. */
  replicaStatus: serviceRef<ReplicaStatus>('replica-status'),
  stats: serviceRef<GatewayStats>('gateway-stats'),
  eventWriter: serviceRef<EventWriter>('event-writer'),
  runs: serviceRef<RunService>('runs'),
  /** Workloads: signed jobs placed, delivered, supervised, moved and updated (issue 10). */
  workloads: serviceRef<WorkloadService>('workloads'),
  drains: serviceRef<NodeDrains>('node-drains'),
  alerts: serviceRef<AlertEngine>('alerts'),
  /** Who pages among the replicas, and what was paged (alerts/notice-ledger.ts). */
  alertLeadership: serviceRef<NoticeLedger>('alert-leadership'),
  /** Pools (issue 11): desired sizes, provisions, replacements and scale-downs through providers. */
  pools: serviceRef<PoolManager>('pools'),
  /** SSH to hosts without an agent (issue 12): one pooled client for fact collection and plays. */
  sshTransport: serviceRef<SshTransport>('ssh-transport'),
  /** Nodes managed over SSH: add, facts, host keys, credentials (issue 12). */
  sshHosts: serviceRef<SshHostsService>('ssh-hosts'),
  /** `nodes promote`: an SSH node becomes an agent host, keeping its id (issue 12). */
  promote: serviceRef<PromoteService>('promote'),
  /** Node groups and layered variables (issue 12); the play runner's NodeGroups. */
  groups: serviceRef<GroupsService>('groups'),
  /** Playbook templates by version (issue 12): the built-ins and custom ones. */
  templates: serviceRef<TemplateService>('templates'),
  /** Plays: templates run with ansible-playbook on SSH hosts (issue 12). */
  plays: serviceRef<PlayService>('plays'),
  /** Signed releases (issue 14): the TUF repository the control plane serves. */
  releases: serviceRef<ReleaseRepository>('releases'),
  /** Rollouts of signed releases (issue 14): canary and waves, on the scheduler lease's holder. */
  rollouts: serviceRef<RolloutService>('rollouts'),
  health: serviceRef<HealthEngine>('health'),
  views: serviceRef<NodeViews>('node-views'),
  metricsIngest: serviceRef<MetricsIngest>('metrics-ingest'),
  eventRouter: serviceRef<AgentEventRouter>('agent-event-router'),
  gateway: serviceRef<AgentGateway>('agent-gateway'),
  // Timers.
  sweep: serviceRef<Interval>('offline-sweep'),
  lastSeenFlush: serviceRef<Interval>('last-seen-flush'),
  metricsPrune: serviceRef<Interval>('metrics-prune'),
  healthTick: serviceRef<Interval>('health-tick'),
  eventRetention: serviceRef<EventRetention>('event-retention'),
  /** Signs a fresh release timestamp before the current one expires. */
  releaseRefresh: serviceRef<{ start(): Promise<void>; stop(): Promise<void> }>('release-refresh'),
  /** Re-seals, at start, the sealed records only GPUFLEET_MASTER_KEY_PREVIOUS opens (trust/sealed-records.ts). */
  sealedRecords: serviceRef<{ start(): Promise<void> }>('sealed-records'),
  // Serving.
  listener: serviceRef<HttpListener>('http-listener'),
} as const;

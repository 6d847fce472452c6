import { FleetError } from '@gpufleet/protocol';

/**
 * The subjects and keys the control-plane replicas share, relative to the bus namespace.
 *
 * An id becomes one token: letters, digits, '_' and '-' stay, every other byte of its UTF-8 is
 * written `=XX` (hex). `did:key:z6Mk…` becomes `did=3Akey=3Az6Mk…`: readable, reversible, never a
 * dot or wildcard, and fit for KV keys and consumer names too, which refuse ':' (NATS subjects
 * would take ':', KV keys would not, so one encoding serves both).
 */

const PLAIN = /^[A-Za-z0-9_-]$/;
const MAX_ID_LENGTH = 128;

/** One subject token for an id (a node id, a run id). */
export function idToken(id: string): string {
  if (typeof id !== 'string' || id === '') throw new FleetError('invalid_argument', 'an id for a subject token must be a non-empty string');
  if (id.length > MAX_ID_LENGTH) throw new FleetError('invalid_argument', `an id for a subject token is longer than ${MAX_ID_LENGTH} characters`);
  let token = '';
  for (const ch of id) {
    if (PLAIN.test(ch)) token += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) token += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return token;
}

/** The id a token of idToken() stands for. */
export function tokenId(token: string): string {
  if (!/^(?:[A-Za-z0-9_-]|=[0-9A-F]{2})+$/.test(token)) throw new FleetError('invalid_argument', `'${token.slice(0, 80)}' is not an id token`);
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The id token at a position of a subject built here, e.g. `nodeIdOf('node.did=3Akey….metrics')`. */
export function nodeIdOf(subject: string): string {
  const [kind, token] = subject.split('.');
  if ((kind !== 'node' && kind !== 'run-delivery' && kind !== 'health-fact') || token === undefined) {
    throw new FleetError('invalid_argument', `'${subject.slice(0, 80)}' is not a node subject`);
  }
  return tokenId(token);
}

export const subjects = {
  /**
   * Core NATS. A node's agent session opened or closed on some replica, for live views. Who holds
   * a session is the SESSION_OWNERS bucket's business; this only announces changes.
   */
  nodeSession: (nodeId: string) => `node.${idToken(nodeId)}.session`,
  allNodeSessions: 'node.*.session',

  /**
   * Core NATS. A node changed or sent an event that is stored already (enrolled, status, labels,
   * agent outbox items): a replica that misses one reloads from the store, so at most once is fine.
   */
  nodeEvent: (nodeId: string) => `node.${idToken(nodeId)}.event`,
  allNodeEvents: 'node.*.event',

  /**
   * Core NATS. The latest samples of the nodes a replica holds, many in one message
   * (replicas/metric-batch.ts), for the others' live views and alert rules: latest wins, and a lost
   * batch is overwritten by the next samples a few seconds later, so storing them would only cost.
   */
  metricBatches: 'metrics.batch',

  /**
   * Core NATS. A host's report on a run (started, output, result, refused), stored already by the
   * replica holding its session, for the replica that follows the run.
   */
  runReport: (nodeId: string) => `node.${idToken(nodeId)}.run-report`,
  allRunReports: 'node.*.run-report',

  /**
   * Core NATS. Cancels of plays asked of other replicas, for the replica instance running them
   * (an ansible-playbook process cannot move). At most once: the asker repeats until the play ends.
   */
  playCancels: (instance: string) => `replica.${idToken(instance)}.play-cancels`,

  /**
   * Core NATS. A health verdict changed on the replica holding the node's session: the others
   * read its findings again and tell their alert engines (policy alerts, live views).
   */
  nodeHealth: (nodeId: string) => `node.${idToken(nodeId)}.health`,
  allNodeHealth: 'node.*.health',

  /** Core NATS. A stored agent event (not a run report), for the others' alert engines and event streams. */
  nodeAgentEvent: (nodeId: string) => `node.${idToken(nodeId)}.agent-event`,
  allNodeAgentEvents: 'node.*.agent-event',

  /**
   * Core NATS. The fleet roots, the revocations or a label attestation changed on some replica:
   * the others read them from the store again and pass them to their agents (a lost message is
   * made good by the bridge's periodic refresh).
   */
  trustChanged: 'trust.changed',

  /** Core NATS. Frames for agents whose session a replica holds, sent there by the others. */
  replicaFrames: (replica: string) => `replica.${idToken(replica)}.frames`,

  /**
   * Core NATS. Questions about the metric history of nodes whose session a replica holds (series,
   * sparklines): only the holder keeps a node's rings. Answers go to the asking instance.
   */
  metricQueries: (replica: string) => `replica.${idToken(replica)}.metric-queries`,
  metricAnswers: (instance: string) => `replica.${idToken(instance)}.metric-answers`,

  /**
   * JetStream. A run command waiting for delivery to a node: the replica holding the node's session
   * consumes it under consumers.runDelivery(nodeId). It must survive that replica dying, and a
   * session that moves takes the undelivered commands with it.
   */
  runDelivery: (nodeId: string) => `run-delivery.${idToken(nodeId)}`,
  allRunDeliveries: 'run-delivery.>',

  /**
   * JetStream. A health fact (a check result, an XID, a verdict input) to be judged once by one
   * replica: a lost fact could leave a bad GPU in service.
   */
  healthFact: (nodeId: string) => `health-fact.${idToken(nodeId)}`,
  allHealthFacts: 'health-fact.>',
} as const;

/** Durable consumer names: one per purpose, shared by all replicas so each message is handled once. */
export const consumers = {
  runDelivery: (nodeId: string) => `run-delivery-${idToken(nodeId)}`,
  healthFacts: 'health-facts',
} as const;

/**
 * KV buckets. SESSION_OWNERS maps a node's key to the replica holding its agent session; the holder
 * renews it (update with the last revision) well within the TTL, and a replica that dies lets its
 * entries lapse so another may create them.
 */
export const buckets = {
  sessionOwners: 'session-owners',
  runFollowers: 'run-followers',
} as const;

export const kvKeys = {
  sessionOwner: (nodeId: string) => idToken(nodeId),
  runFollower: (runId: string) => idToken(runId),
} as const;

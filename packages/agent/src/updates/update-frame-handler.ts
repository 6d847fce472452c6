import type { UpdateFrame } from '@gpufleet/protocol';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import type { Logger } from '../runtime/logger.js';

/**
 * What takes an agent's `update` frames (issue 14): the verifying UpdateHandler on real hosts,
 * or a stand-in given through UpdateOptions.handler (the simulator's hosts, which only pretend
 * to install). The agent hands every `update` frame to it and nothing else.
 */
export interface UpdateFrameHandler {
  /** Handles one frame; settles when its last report is enqueued, never rejects. */
  onFrame(body: UpdateFrame['body']): Promise<void>;
}

/** What the agent gives a stand-in handler: its outbox (reports are `update-state` events) and its version. */
export interface UpdateHandlerHost {
  agentVersion: string;
  enqueue: (e: NewAgentEvent, critical: boolean) => unknown;
  logger: Logger;
}

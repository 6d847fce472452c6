import { join } from 'node:path';
import { defaultPlaybooksDir } from '../plays/builtin-templates.js';
import { PlayService } from '../plays/play-service.js';
import { PlayRunners } from '../replicas/play-runners.js';
import { findOnPath } from '../plays/run-folder.js';
import { TemplateService } from '../plays/template-service.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/** What the caller of serverGraph decides for plays (server.ts StartOptions); tests point these elsewhere. */
export interface PlayChoices {
  /** Built-in playbooks (index.yaml and the playbooks); default the repository's playbooks/, null for none. */
  playbooksDir?: string | null;
  /** ansible-playbook; default the one on PATH (null when there is none: plays are refused saying how to install it). */
  ansiblePlaybook?: string | null;
  /** Plays running at once on each replica (default 4); the rest wait as PENDING. */
  maxConcurrentPlays?: number;
}

/**
 * Templates and plays (issue 12): templates load the built-ins at init; the play service reaches
 * SSH hosts through the SSH hosts service and agent hosts through the command fan-out (their
 * parts are operator-signed commands), and selects and resolves variables through the groups
 * service. Each play is run by the replica instance that started it (issue 13): the replica
 * directory tells which instances are alive, so plays of a dead one (this replica's previous
 * process among them) end FAILED, and cancels reach the runner over the bus.
 */
export function playServices(choices: PlayChoices = {}): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.templates,
      deps: { store: refs.store, clock: refs.clock },
      async init({ store, clock }) {
        const templates = new TemplateService({ store, clock, builtinDir: choices.playbooksDir === undefined ? defaultPlaybooksDir() : choices.playbooksDir });
        await templates.loadBuiltins();
        return templates;
      },
    }),
    defineService({
      provides: refs.plays,
      deps: {
        config: refs.config,
        store: refs.store,
        clock: refs.clock,
        templates: refs.templates,
        sshHosts: refs.sshHosts,
        groups: refs.groups,
        runs: refs.runs,
        bus: refs.bus,
        replica: refs.replica,
        directory: refs.replicaDirectory,
        log: refs.log,
      },
      async init({ config, store, clock, templates, sshHosts, groups, runs, bus, replica, directory, log }) {
        const plays = new PlayService({
          store,
          clock,
          templates,
          sshHosts: () => sshHosts,
          nodeGroups: () => groups,
          runs,
          runners: new PlayRunners({ bus, replica: replica.name, instance: replica.instance, directory, log }),
          runsDir: join(config.dataDir, 'plays'),
          ansiblePlaybook: choices.ansiblePlaybook === undefined ? findOnPath('ansible-playbook') : choices.ansiblePlaybook,
          sshpass: findOnPath('sshpass'),
          ...(choices.maxConcurrentPlays === undefined ? {} : { maxConcurrent: choices.maxConcurrentPlays }),
          onError: (err) => log.error({ err }, 'plays: %s', err instanceof Error ? err.message : String(err)),
        });
        const ended = await plays.load();
        if (ended > 0) log.warn(`plays: ${ended} play(s) whose replica is gone (this one's previous process among them) ended FAILED`);
        return plays;
      },
      start: (plays) => plays.serve(),
      stop: (plays) => plays.stop(),
    }),
  ];
}

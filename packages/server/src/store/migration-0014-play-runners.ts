import type { Kysely, Migration } from 'kysely';

/**
 * 0014_play_runners (issue 13): which replica instance runs each play. Its ansible-playbook runs
 * on that replica and cannot move; the others end the plays of an instance that is gone instead
 * of every play left RUNNING. Two nullable columns: plays stored before this have no runner and
 * count as the plays of a control plane that is gone.
 */
export function playRunnersMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('plays').addColumn('runner_replica', 'text').execute();
      await db.schema.alterTable('plays').addColumn('runner_instance', 'text').execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('plays').dropColumn('runner_instance').execute();
      await db.schema.alterTable('plays').dropColumn('runner_replica').execute();
    },
  };
}

import type { Kysely, Migration } from 'kysely';

/**
 * Agent events are pruned by the time the server received them (events/event-retention.ts): an
 * index on it keeps each pruning pass from scanning the table.
 */
export const eventRetentionMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.createIndex('agent_events_received_at').on('agent_events').column('received_at').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex('agent_events_received_at').ifExists().execute();
  },
};

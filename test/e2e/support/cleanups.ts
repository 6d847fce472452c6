/**
 * Teardown steps registered as resources are made and run newest first. Every step runs even
 * when an earlier one throws; the first error is rethrown at the end so a leak is not silent.
 */
export class Cleanups {
  private steps: Array<{ name: string; run: () => unknown }> = [];

  /** Registers a step, named for the error message if it fails. */
  add(name: string, run: () => unknown): void {
    this.steps.push({ name, run });
  }

  async run(): Promise<void> {
    const steps = this.steps.splice(0).reverse();
    let first: Error | null = null;
    for (const step of steps) {
      try {
        await step.run();
      } catch (err) {
        first ??= new Error(`cleanup '${step.name}' failed: ${(err as Error).message}`);
      }
    }
    if (first) throw first;
  }
}

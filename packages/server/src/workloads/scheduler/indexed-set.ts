/**
 * A set that can also hand out a uniformly random member in O(1): members live in an array,
 * and a map remembers each one's slot so removal swaps the last member into the hole. The
 * scheduler samples candidate nodes from these instead of scanning the fleet.
 */
export class IndexedSet<T> {
  private readonly items: T[] = [];
  private readonly slots = new Map<T, number>();

  get size(): number {
    return this.items.length;
  }

  has(item: T): boolean {
    return this.slots.has(item);
  }

  add(item: T): void {
    if (this.slots.has(item)) return;
    this.slots.set(item, this.items.length);
    this.items.push(item);
  }

  delete(item: T): boolean {
    const slot = this.slots.get(item);
    if (slot === undefined) return false;
    const last = this.items.pop()!;
    this.slots.delete(item);
    if (slot < this.items.length) {
      this.items[slot] = last;
      this.slots.set(last, slot);
    }
    return true;
  }

  /** The member in slot `i` (0 <= i < size); slots change as members come and go. */
  at(i: number): T {
    return this.items[i]!;
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.items[Symbol.iterator]();
  }
}

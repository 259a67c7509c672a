import type { JobRecord } from './types.js';

/**
 * The usable slots, by child id, and the job each runs (undefined: idle),
 * as a value: a ledger step copies it the first time it changes it, and
 * changes only that copy. A handful of slots, so two small arrays copied
 * cost less than a Map's copy, and a look-up is a scan of a few ids.
 */
export class SlotTable {
  private static readonly none = new SlotTable([], []);

  private constructor(
    private readonly ids: readonly string[],
    private readonly jobs: ReadonlyArray<JobRecord | undefined>,
  ) {}

  /** No slots. */
  static empty(): SlotTable {
    return SlotTable.none;
  }

  get size(): number {
    return this.ids.length;
  }

  /** The job `slotId` runs; undefined when it is idle or not a usable slot. */
  get(slotId: string): JobRecord | undefined {
    const at = this.ids.indexOf(slotId);
    return at < 0 ? undefined : this.jobs[at];
  }

  has(slotId: string): boolean {
    return this.ids.includes(slotId);
  }

  /**
   * A copy that only the caller holds, to change in place with `put` and
   * `remove` during one ledger step (see Step.slots()); once the step hands
   * it over in the next ledger it is never changed again.
   */
  copy(): SlotTable {
    return new SlotTable([...this.ids], [...this.jobs]);
  }

  /** On a copy (see `copy`): `slotId` runs `job` (undefined: idle); a new slot is added at the end. */
  put(slotId: string, job: JobRecord | undefined): void {
    const at = this.ids.indexOf(slotId);
    if (at >= 0) (this.jobs as Array<JobRecord | undefined>)[at] = job;
    else ((this.ids as string[]).push(slotId), (this.jobs as Array<JobRecord | undefined>).push(job));
  }

  /** On a copy (see `copy`): `slotId` is set aside. */
  remove(slotId: string): void {
    const at = this.ids.indexOf(slotId);
    if (at < 0) return;
    (this.ids as string[]).splice(at, 1);
    (this.jobs as Array<JobRecord | undefined>).splice(at, 1);
  }

  keys(): IterableIterator<string> {
    return this.ids.values();
  }

  /** The jobs, undefined for the idle slots. */
  values(): IterableIterator<JobRecord | undefined> {
    return this.jobs.values();
  }

  *entries(): IterableIterator<[string, JobRecord | undefined]> {
    for (let i = 0; i < this.ids.length; i++) yield [this.ids[i]!, this.jobs[i]];
  }

  [Symbol.iterator](): IterableIterator<[string, JobRecord | undefined]> {
    return this.entries();
  }

  toJSON(): Record<string, JobRecord | null> {
    return Object.fromEntries(this.ids.map((id, i) => [id, this.jobs[i] ?? null]));
  }
}

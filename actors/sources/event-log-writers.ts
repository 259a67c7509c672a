/**
 * Which gaps in a PostgreSQL log's ids can still fill, from the transactions
 * that hold its id sequence (or write to its table).
 *
 * Why a gap can be closed at once. The ids come from the table's sequence
 * with CACHE 1 (checked at start), so they are handed out in the order of
 * the draws, across connections. nextval takes RowExclusiveLock on the
 * sequence and keeps it until its top transaction ends (even when the
 * subtransaction that drew rolls back), and pg_locks lists every such lock
 * with the holder's virtual transaction id, which every transaction has,
 * whether or not it has an xid yet. (A snapshot's in-progress list would
 * not do: nextval assigns no xid, so a transaction that has drawn an id
 * but written nothing yet is in no snapshot.)
 *
 * Say a read R1 saw event m and not id k < m. Event m was committed before
 * R1, so drawn before R1, so k, drawn before m, was drawn before R1 too, by
 * some transaction T. Ask pg_locks at a moment L after R1. Either T has
 * ended by L, and a read that starts after L sees k if T committed it; or
 * T holds the lock at L and is in the list. So once a list taken after R1
 * names no transaction that may hold k, a read that starts after that list
 * and still misses k proves k will never appear: T rolled back (or drew k
 * and never wrote it).
 *
 * Which listed transactions may hold k: a transaction missing from the
 * previous list had drawn nothing when that list was taken, so every id it
 * draws is above every id drawn before then, in particular above the
 * highest id read before that list was asked for (`seenBefore`). That bound
 * is its `low`: it cannot hold an id at or below it. A long transaction
 * that began after a gap's ids were drawn therefore does not hold the gap
 * open. A prepared transaction (two-phase commit) takes a new virtual id
 * when it prepares, so it is taken to hold any id. Pure: the lists and ids
 * come in as arguments.
 */
export class WriterHorizon {
  /** Each transaction of the last list, and the highest id it cannot hold. */
  private low = new Map<string, number>();
  /** `seenBefore` of the last list; undefined before the first. */
  private previousSeen: number | undefined;

  /**
   * Takes a list of the transactions holding the sequence or the table now,
   * asked for after reads that saw ids up to `seenBefore`. Returns the
   * horizon: no transaction still open can hold an id at or below it
   * (Infinity when none is open), so a gap that ends at or below it and is
   * still missing in a read after this list will never fill.
   */
  observe(writers: readonly string[], seenBefore: number): number {
    const next = new Map<string, number>();
    // A prepared transaction (`-1/<xid>`) took a new virtual id at PREPARE: it may hold any id.
    for (const writer of writers) next.set(writer, writer.startsWith('-1/') ? 0 : (this.low.get(writer) ?? this.previousSeen ?? 0));
    this.low = next;
    this.previousSeen = seenBefore;
    let horizon = Number.POSITIVE_INFINITY;
    for (const low of next.values()) horizon = Math.min(horizon, low);
    return horizon;
  }

  /** Forgets the lists (a new connection, or a log read again from elsewhere): the next list's transactions may hold any id. */
  reset(): void {
    this.low.clear();
    this.previousSeen = undefined;
  }
}

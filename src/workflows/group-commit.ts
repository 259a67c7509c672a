/**
 * Group commit, per key: items added while their batch waits for its turn
 * go out together, in one write. A batch is open from its first item until
 * its write takes it (`take()`, called when the write begins; again, with
 * the same items, when it is redone); items added after that go into the
 * next batch. Each item's promise settles with its own result, or with the
 * batch's error.
 * @example
 * const add = groupCommit<Event, boolean>((runId, take) => write(runId, (record) => append(record, take())));
 * await add(runId, event);
 */
export function groupCommit<T, R>(writeBatch: (key: string, take: () => readonly T[]) => Promise<readonly R[]>) {
  const open = new Map<string, { items: T[]; written: Promise<readonly R[]> }>();
  return (key: string, item: T): Promise<R> => {
    let batch = open.get(key);
    if (batch === undefined) {
      const items: T[] = [];
      const created: { items: T[]; written: Promise<readonly R[]> } = { items, written: Promise.resolve([]) };
      const close = () => {
        if (open.get(key) === created) open.delete(key);
      };
      open.set(key, created);
      created.written = writeBatch(key, () => {
        close();
        return items;
      });
      // A write that failed before it took its batch: the next item starts another.
      void created.written.then(close, close);
      batch = created;
    }
    const index = batch.items.push(item) - 1;
    return batch.written.then((results) => results[index]!);
  };
}

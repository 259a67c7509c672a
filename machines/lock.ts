import { assign, emit, setup, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import { promiseNotProvided } from './not-provided.js';

/**
 * One keyed lock: FIFO waiters, one holder at a time, a lease after which
 * a holder that did not renew loses the lock, and a fencing token that
 * increases with every acquisition.
 *
 * The machine decides who is next; the `acquire` actor (given by the
 * backend) takes the lock for that waiter: at once in process, or in Redis,
 * where it may wait for another process to let go. Time only passes through
 * the `lease` delay, so tests drive it with a simulated clock.
 */

/** A request waiting for the lock (or, first in line while `acquiring`, being served). */
export interface LockWaiter {
  requestId: string;
  leaseMs: number;
}

/** The current holder. */
export interface LockHolder {
  requestId: string;
  fence: number;
  /** The backend's proof of ownership (the random token set in Redis). */
  token: string;
  /** Time left on the lease when it was granted or last renewed. */
  leaseMs: number;
}

export interface LockInput {
  key: string;
  /** The highest fence already handed out for this key (by an earlier actor, say). @default 0 */
  fence?: number;
}

export interface LockContext {
  key: string;
  /** The last fence issued; the next acquisition gets a greater one. */
  fence: number;
  holder: LockHolder | undefined;
  /** FIFO; while `acquiring`, the first one is being served. */
  waiters: LockWaiter[];
}

/** What the `acquire` actor is given. */
export interface AcquireInput {
  key: string;
  requestId: string;
  leaseMs: number;
  /** The last fence this machine issued (an in-process backend returns `fence + 1`). */
  fence: number;
}

/** What the `acquire` actor resolves with once the lock is taken. */
export interface AcquireOutput {
  fence: number;
  token: string;
  /** The lease left by the time it was taken (less than asked for when the backend is remote). */
  leaseMs: number;
}

// Commands and facts sent to the lock by its backend, on behalf of a request.
export type LockRequested = { type: 'lock.requested'; requestId: string; leaseMs: number };
export type LockRenewed = { type: 'lock.renewed'; requestId: string; leaseMs: number };
export type LockReleased = { type: 'lock.released'; requestId: string };
/** The wait was aborted: leaves the queue, or gives the lock back when it had just been granted. */
export type LockCancelled = { type: 'lock.cancelled'; requestId: string };
/** The backend found the lock no longer ours (a renewal that Redis refused). */
export type LockRevoked = { type: 'lock.revoked'; requestId: string };

export type LockEvent = LockRequested | LockRenewed | LockReleased | LockCancelled | LockRevoked;

// Facts the lock emits (`actor.on(...)`).
export type LockGranted = { type: 'lock.granted'; key: string; requestId: string; fence: number; token: string; leaseMs: number };
export type LockLost = { type: 'lock.lost'; key: string; requestId: string; fence: number; leaseMs: number };
/** The backend could not take the lock for this request (Redis down, say). */
export type LockFailed = { type: 'lock.failed'; key: string; requestId: string; error: unknown };
/** Free with nobody waiting: the backend may stop this actor. */
export type LockFreed = { type: 'lock.freed'; key: string; fence: number };

export type LockEmitted = LockGranted | LockLost | LockFailed | LockFreed;

/** Creators for the commands and facts a backend sends. */
export const lockRequested = (requestId: string, leaseMs: number): LockRequested => ({ type: 'lock.requested', requestId, leaseMs });
export const lockRenewed = (requestId: string, leaseMs: number): LockRenewed => ({ type: 'lock.renewed', requestId, leaseMs });
export const lockReleased = (requestId: string): LockReleased => ({ type: 'lock.released', requestId });
export const lockCancelled = (requestId: string): LockCancelled => ({ type: 'lock.cancelled', requestId });
export const lockRevoked = (requestId: string): LockRevoked => ({ type: 'lock.revoked', requestId });

type Ctx = { context: LockContext; event: LockEvent | DoneActorEvent<AcquireOutput> | ErrorActorEvent };
const requestIdOf = (event: Ctx['event']): string | undefined => (event as { requestId?: string }).requestId;

/** The machine of one keyed lock. */
export const lockMachine = setup({
  types: {} as { context: LockContext; events: LockEvent; input: LockInput; emitted: LockEmitted },
  actors: {
    // Typed, and loud when a backend forgets it: the waiter is told `lock.failed`.
    acquire: promiseNotProvided<AcquireOutput, AcquireInput>('lock', 'acquire'),
  },
  guards: {
    isHolder: ({ context, event }: Ctx) => context.holder !== undefined && context.holder.requestId === requestIdOf(event),
    isFirstWaiter: ({ context, event }: Ctx) => context.waiters[0]?.requestId === requestIdOf(event),
    hasWaiters: ({ context }: Ctx) => context.waiters.length > 0,
  },
  actions: {
    enqueueWaiter: assign({
      waiters: ({ context, event }: Ctx) => {
        const { requestId, leaseMs } = event as LockRequested;
        return [...context.waiters, { requestId, leaseMs }];
      },
    }),
    dropWaiter: assign({
      waiters: ({ context, event }: Ctx) => context.waiters.filter((waiter) => waiter.requestId !== requestIdOf(event)),
    }),
    dropFirstWaiter: assign({ waiters: ({ context }: Ctx) => context.waiters.slice(1) }),
    assignHolder: assign(({ context, event }: Ctx) => {
      const { fence, token, leaseMs } = (event as DoneActorEvent<AcquireOutput>).output;
      const [first, ...rest] = context.waiters;
      return { holder: { requestId: first!.requestId, fence, token, leaseMs }, fence: Math.max(context.fence, fence), waiters: rest };
    }),
    extendLease: assign({ holder: ({ context, event }: Ctx) => ({ ...context.holder!, leaseMs: (event as LockRenewed).leaseMs }) }),
    clearHolder: assign({ holder: undefined }),
    reportGranted: emit(({ context }: Ctx) => {
      const { requestId, fence, token, leaseMs } = context.holder!;
      return { type: 'lock.granted' as const, key: context.key, requestId, fence, token, leaseMs };
    }),
    reportLost: emit(({ context }: Ctx) => {
      const { requestId, fence, leaseMs } = context.holder!;
      return { type: 'lock.lost' as const, key: context.key, requestId, fence, leaseMs };
    }),
    reportFailed: emit(({ context, event }: Ctx) => ({
      type: 'lock.failed' as const,
      key: context.key,
      requestId: context.waiters[0]!.requestId,
      error: (event as ErrorActorEvent).error,
    })),
    reportFreed: emit(({ context }: Ctx) => ({ type: 'lock.freed' as const, key: context.key, fence: context.fence })),
  },
  delays: {
    lease: ({ context }: Ctx) => context.holder!.leaseMs,
  },
}).createMachine({
  id: 'lock',
  context: ({ input }) => ({ key: input.key, fence: input.fence ?? 0, holder: undefined, waiters: [] }),
  initial: 'free',
  states: {
    free: {
      description: 'Nobody holds the lock and nobody waits for it.',
      entry: 'reportFreed',
      on: { 'lock.requested': { target: 'acquiring', actions: 'enqueueWaiter' } },
    },
    acquiring: {
      description: 'Taking the lock from the backend for the first waiter (in Redis, perhaps waiting for another process to let go).',
      invoke: {
        src: 'acquire',
        input: ({ context }) => ({
          key: context.key,
          requestId: context.waiters[0]!.requestId,
          leaseMs: context.waiters[0]!.leaseMs,
          fence: context.fence,
        }),
        onDone: { target: 'held', actions: ['assignHolder', 'reportGranted'] },
        onError: { target: 'passing', actions: ['reportFailed', 'dropFirstWaiter'] },
      },
      on: {
        'lock.requested': { actions: 'enqueueWaiter' },
        // Leaving the state stops `acquire`, which gives back a lock it took just as it was stopped.
        'lock.cancelled': [{ guard: 'isFirstWaiter', target: 'passing', actions: 'dropFirstWaiter' }, { actions: 'dropWaiter' }],
      },
    },
    held: {
      description: 'One request holds the lock until it releases it or its lease lapses.',
      after: { lease: 'expired' },
      on: {
        'lock.requested': { actions: 'enqueueWaiter' },
        'lock.renewed': { guard: 'isHolder', target: 'held', reenter: true, actions: 'extendLease' },
        'lock.released': { guard: 'isHolder', target: 'passing' },
        'lock.revoked': { guard: 'isHolder', target: 'expired' },
        'lock.cancelled': [{ guard: 'isHolder', target: 'passing' }, { actions: 'dropWaiter' }],
      },
    },
    expired: {
      description: 'The lease lapsed without a renewal (or the backend says the lock is gone): the holder is told it lost the lock.',
      entry: 'reportLost',
      always: 'passing',
    },
    passing: {
      description: 'The holder let go: the lock goes to the next waiter, or becomes free.',
      entry: 'clearHolder',
      always: [{ guard: 'hasWaiters', target: 'acquiring' }, { target: 'free' }],
    },
  },
});

/**
 * A Jepsen-style history: one record per client request, with what the client was told. The load
 * driver writes it, the checker (./checker.ts) judges it against the chains the nodes serve.
 *
 * Outcomes, from the client's point of view:
 * - final:   broadcast_tx_commit returned a receipt (or a resubmission said "final") — must be in the
 *            chain exactly once (at the reported height/index when given);
 * - pending: broadcast_tx_sync accepted it into a mempool — must become final, or be reported dropped
 *            with a reason by the node that accepted it, also across a crash of that node (its
 *            mempool journal keeps it);
 * - failed:  a definite rejection (bad nonce, mempool full, invalid…) — must never be final;
 * - unknown: no answer (timeout, connection reset, node killed) — may or may not be final;
 * - dropped: the node said it dropped the tx (broadcast_tx_commit TX_DROPPED, or its `tx` status read
 *            by a drain before a wipe, see fault-ops.ts) — must not be final.
 */

export type Outcome = 'final' | 'pending' | 'failed' | 'unknown' | 'dropped'

export const OUTCOMES: readonly Outcome[] = ['final', 'pending', 'failed', 'unknown', 'dropped']

export interface HistoryOp {
  id: number
  /** the load client (one signing key each) */
  client: number
  /** 0x-hex tx hash */
  hash: string
  /** 0x-hex encoded signed tx */
  tx: string
  op: 'set' | 'del'
  key: string
  /** '' for a del */
  value: string
  nonce: number
  /** RPC URL the request went to */
  node: string
  method: 'broadcast_tx_sync' | 'broadcast_tx_commit'
  /** wall clock ms (Date.now) when the request was sent / answered */
  start: number
  end: number
  outcome: Outcome
  /** from a broadcast_tx_commit receipt */
  height?: number
  index?: number
  /** the RPC error message (or the transport error) when not acknowledged */
  error?: string
  /** the JSON-RPC error code, when the node answered with one */
  errorCode?: number
}

/**
 * A node process killed (SIGKILL) at `at`. Its mempool journal keeps what it acknowledged, so a
 * crash excuses nothing: the checker only names it when explaining an unresolved ack. A wipe of the
 * data dir does lose the journal; the fault tests drain a node before wiping it (fault-ops.ts drain).
 */
export interface CrashEvent {
  /** the node's RPC URL, as in HistoryOp.node */
  node: string
  at: number
}

export class History {
  readonly ops: HistoryOp[] = []
  readonly crashes: CrashEvent[] = []
  private nextId = 0

  /** Appends a finished request; assigns and returns its id. */
  add(op: Omit<HistoryOp, 'id'>): HistoryOp {
    const full: HistoryOp = { ...op, id: this.nextId++ }
    this.ops.push(full)
    return full
  }

  /** Records that the node at `node` (RPC URL) was killed; call it right before or after the kill. */
  crash(node: string, at = Date.now()): void {
    this.crashes.push({ node, at })
  }

  /** Appends the ops and crashes of another history (e.g. several load phases), renumbering ops. */
  merge(other: History): void {
    for (const { id: _id, ...op } of other.ops) this.add(op)
    this.crashes.push(...other.crashes)
  }

  summary(): Record<Outcome, number> {
    const counts: Record<Outcome, number> = { final: 0, pending: 0, failed: 0, unknown: 0, dropped: 0 }
    for (const op of this.ops) counts[op.outcome]++
    return counts
  }

  /** One line for logs: `ops=120 final=30 pending=80 failed=2 unknown=8 dropped=0`. */
  summaryLine(): string {
    const s = this.summary()
    return `ops=${this.ops.length} ${OUTCOMES.map((o) => `${o}=${s[o]}`).join(' ')}`
  }
}

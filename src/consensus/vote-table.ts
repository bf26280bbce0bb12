import { bytesEqual, toHex } from '../crypto/hash.js'

interface Vote {
  readonly view: number
  readonly sender: number
  readonly blockHash: Uint8Array
  readonly signature: Uint8Array
}

export type AddResult<M> =
  | { readonly status: 'new' }
  | { readonly status: 'duplicate' }
  /** the sender already signed a different digest for this view: equivocation evidence */
  | { readonly status: 'conflict'; readonly existing: M }

/**
 * Votes of one kind for one height, at most one per (view, sender): a duplicate is never counted
 * twice, and a second, different vote from the same sender is reported instead of stored.
 */
export class VoteTable<M extends Vote> {
  private readonly byView = new Map<number, Map<number, M>>()

  add(m: M): AddResult<M> {
    let senders = this.byView.get(m.view)
    if (senders === undefined) {
      senders = new Map()
      this.byView.set(m.view, senders)
    }
    const existing = senders.get(m.sender)
    if (existing !== undefined) {
      return bytesEqual(existing.blockHash, m.blockHash)
        ? { status: 'duplicate' }
        : { status: 'conflict', existing }
    }
    senders.set(m.sender, m)
    return { status: 'new' }
  }

  get(view: number, sender: number): M | undefined {
    return this.byView.get(view)?.get(sender)
  }

  /** votes for (view, digest), sorted by sender */
  matching(view: number, hashHex: string): M[] {
    const senders = this.byView.get(view)
    if (senders === undefined) return []
    const out: M[] = []
    for (const m of senders.values()) if (toHex(m.blockHash) === hashHex) out.push(m)
    return out.sort((a, b) => a.sender - b.sender)
  }

  /** distinct senders with a vote in `view`, whatever the digest */
  senderCount(view: number): number {
    return this.byView.get(view)?.size ?? 0
  }

  /** the senders with a vote in `view` */
  senders(view: number): IterableIterator<number> {
    return (this.byView.get(view) ?? new Map<number, M>()).keys()
  }

  views(): number[] {
    return [...this.byView.keys()]
  }

  pruneViewsBelow(minView: number): void {
    for (const v of this.byView.keys()) if (v < minView) this.byView.delete(v)
  }

  get size(): number {
    let n = 0
    for (const s of this.byView.values()) n += s.size
    return n
  }
}

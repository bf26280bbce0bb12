import type { ConsensusMessage } from '../codec/consensus.js'
import type { Evidence, EvidenceSlot } from './types.js'

const MAX_EVIDENCE = 64

function evidenceKey(kind: string, sender: number, view: number, height: number): string {
  return `${kind}/${sender}/${view}/${height}`
}

/**
 * Equivocations seen (two signed, conflicting messages of one sender for one slot): proof that the
 * sender is faulty. Each is reported once (the `evidence` action carries both messages, for the
 * driver's evidence pool to verify and store compactly); only the slots of the latest MAX_EVIDENCE
 * are kept here, never the messages, which may carry blocks (a NEW-VIEW up to 4 MiB).
 */
export class EvidenceLog {
  private readonly list: EvidenceSlot[] = []
  private readonly keys = new Set<string>()

  /** the slots recorded, oldest first (a live view: it changes as evidence is recorded) */
  get all(): readonly EvidenceSlot[] {
    return this.list
  }

  /** Records the equivocation `first`/`second`; null when it is already recorded. */
  record(first: ConsensusMessage, second: ConsensusMessage): Evidence | null {
    const view = first.kind === 'viewchange' ? first.newView : first.view
    const height = 'height' in first ? first.height : 0
    const key = evidenceKey(first.kind, first.sender, view, height)
    if (this.keys.has(key)) return null
    this.keys.add(key)
    const slot: EvidenceSlot = { sender: first.sender, kind: first.kind, view, height }
    if (this.list.length >= MAX_EVIDENCE) {
      const dropped = this.list.shift()
      if (dropped !== undefined) {
        this.keys.delete(evidenceKey(dropped.kind, dropped.sender, dropped.view, dropped.height))
      }
    }
    this.list.push(slot)
    return { ...slot, first, second }
  }
}

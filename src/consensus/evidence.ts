import type { ConsensusMessage } from '../codec/consensus.js'
import type { Evidence } from './types.js'

const MAX_EVIDENCE = 64

function evidenceKey(kind: string, sender: number, view: number, height: number): string {
  return `${kind}/${sender}/${view}/${height}`
}

/**
 * Equivocations seen (two signed, conflicting messages of one sender for one slot): proof that the
 * sender is faulty. Each is recorded once; only the latest MAX_EVIDENCE are kept.
 */
export class EvidenceLog {
  private readonly list: Evidence[] = []
  private readonly keys = new Set<string>()

  /** the recorded evidence, oldest first (a live view: it changes as evidence is recorded) */
  get all(): readonly Evidence[] {
    return this.list
  }

  /** Records the equivocation `first`/`second`; null when it is already recorded. */
  record(first: ConsensusMessage, second: ConsensusMessage): Evidence | null {
    const view = first.kind === 'viewchange' ? first.newView : first.view
    const height = 'height' in first ? first.height : 0
    const key = evidenceKey(first.kind, first.sender, view, height)
    if (this.keys.has(key)) return null
    this.keys.add(key)
    const evidence: Evidence = { sender: first.sender, kind: first.kind, view, height, first, second }
    if (this.list.length >= MAX_EVIDENCE) {
      const dropped = this.list.shift()
      if (dropped !== undefined) {
        this.keys.delete(evidenceKey(dropped.kind, dropped.sender, dropped.view, dropped.height))
      }
    }
    this.list.push(evidence)
    return evidence
  }
}

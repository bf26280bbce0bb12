import { Reader } from '../../src/codec/binary.js'
import { sha256, toHex } from '../../src/crypto/hash.js'

/** Sign-bytes tags (src/codec/consensus.ts ConsensusTag; COMMIT's is COMMIT_VOTE_TAG). */
const KIND_BY_TAG: Record<number, string> = {
  16: 'PRE-PREPARE',
  17: 'PREPARE',
  18: 'COMMIT',
  19: 'VIEW-CHANGE',
  20: 'NEW-VIEW',
  21: 'REJECT',
}

/** What one signature commits its signer to: the slot it fills and the exact bytes signed. */
interface Signed {
  readonly kind: string
  /** view (VIEW-CHANGE: its new view) */
  readonly view: number
  /** null for VIEW-CHANGE and NEW-VIEW, whose slot is the view alone */
  readonly height: number | null
  /** the SHA-256 of the sign bytes */
  readonly bytes: string
}

/** Reads the kind and slot out of consensus sign bytes (docs/CONSENSUS.md "Evidence", "Checking a record"). */
export function parseSignBytes(bytes: Uint8Array): Signed {
  const r = new Reader(bytes)
  const tag = r.u8()
  const kind = KIND_BY_TAG[tag]
  if (kind === undefined) throw new Error(`ledger: unknown sign-bytes tag 0x${tag.toString(16)}`)
  r.string(1024)
  const view = r.u64()
  const height = kind === 'VIEW-CHANGE' || kind === 'NEW-VIEW' ? null : r.u64()
  return { kind, view, height, bytes: toHex(sha256(bytes)) }
}

/**
 * The honest signature ledger: every message each honest validator committed to during a run, kept
 * across its crashes and restarts (the ledger lives in the simulation, not in an incarnation of the
 * node). A signed message is a commitment once it is durable in the WAL (a complete put) or leaves
 * the replica (broadcast, including re-sends from the WAL after a restart, which are not signed
 * again); one signed and lost in a crash before either was seen by nobody, and the replica may sign
 * another message for that slot after its restart (sim seed 15, n = 4: a primary crashed before
 * persisting its PRE-PREPARE and proposed another block once back).
 * "Conflicting" is the evidence rule of docs/CONSENSUS.md "Evidence": two different sign bytes of one
 * kind for one slot — PRE-PREPARE, PREPARE and COMMIT per (view, height), VIEW-CHANGE per new view,
 * NEW-VIEW per view. The same bytes again (a re-send, a vote regenerated after a restart) are one
 * entry; REJECTs never conflict (rejecting both blocks of an equivocating primary is honest).
 */
export class SignatureLedger {
  /** per validator: slot key -> the sign bytes first seen there */
  private readonly slots = new Map<number, Map<string, Signed>>()
  /** the highest view each validator signed anything for */
  private readonly maxView = new Map<number, number>()
  signatures = 0

  /** Records a signature; returns the conflict it makes with an earlier one of its slot, if any. */
  record(validator: number, signBytes: Uint8Array, how: string): string | null {
    const s = parseSignBytes(signBytes)
    this.signatures++
    if (s.view > (this.maxView.get(validator) ?? -1)) this.maxView.set(validator, s.view)
    if (s.kind === 'REJECT') return null
    const key = `${s.kind}/${s.view}/${s.height ?? '-'}`
    let mine = this.slots.get(validator)
    if (mine === undefined) {
      mine = new Map()
      this.slots.set(validator, mine)
    }
    const first = mine.get(key)
    if (first === undefined) {
      mine.set(key, s)
      return null
    }
    if (first.bytes === s.bytes) return null
    return (
      `honest ledger: validator ${validator} signed two different ${s.kind}s for view ${s.view}` +
      `${s.height === null ? '' : ` height ${s.height}`} (the second ${how})`
    )
  }

  highestView(validator: number): number {
    return this.maxView.get(validator) ?? 0
  }
}

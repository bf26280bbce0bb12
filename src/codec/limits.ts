/** Size limits enforced by every decoder (and by the mempool and block builder before encoding). */
export const MAX_CHAIN_ID_BYTES = 64
export const MAX_KEY_BYTES = 256
export const MAX_VALUE_BYTES = 4096
/** A whole encoded, signed transaction. */
export const MAX_TX_BYTES = 8192
export const MAX_TXS_PER_BLOCK = 5000
/**
 * A whole encoded block (header + txs). MAX_PIPELINE_DEPTH of them (a VIEW-CHANGE's prepared blocks,
 * a NEW-VIEW's re-proposals) fit one 2 MiB gossip message with room for the certificates.
 */
export const MAX_BLOCK_BYTES = 448 * 1024
export const MAX_VALIDATORS = 256
export const MAX_REASON_BYTES = 256
/** Any single gossip message or sync frame. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/**
 * The largest pipelining depth K (heights agreed at once): bounds the prepared certificates of a
 * VIEW-CHANGE and the re-proposals of a NEW-VIEW.
 */
export const MAX_PIPELINE_DEPTH = 4
/**
 * The sign bytes of a VIEW-CHANGE or NEW-VIEW kept in an evidence record: every VIEW-CHANGE fits
 * (n = 256, K = 4: ~57 KiB), a NEW-VIEW up to n ≈ 20. Larger ones keep only their digest.
 */
export const MAX_EVIDENCE_SIGN_BYTES = 64 * 1024

/**
 * `s` cut short so its UTF-8 encoding fits `maxBytes`: for text of ours (a reason) that may quote
 * an error message of any length, which the decoders would otherwise reject as oversized.
 */
export function truncateUtf8(s: string, maxBytes: number): string {
  let out = s
  while (Buffer.byteLength(out, 'utf8') > maxBytes) out = out.slice(0, -1)
  return out
}

/** Any failure of the chain store: unreadable or corrupt records, a locked or foreign database. */
export class StoreError extends Error {
  override name = 'StoreError'
}

/** Why the store could not be written: its disk is full, or it fails (I/O error, read-only). */
export type StorageFailure = 'no_space' | 'io_error'

/** errno codes of a full disk: no space left, or the user's quota used up */
const NO_SPACE_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT'])
/** errno codes of a failing disk, and LevelDB's code for any I/O error (classic-level) */
const IO_CODES: ReadonlySet<string> = new Set(['EIO', 'EROFS', 'LEVEL_IO_ERROR'])
/** LevelDB reports errno only as strerror text inside its message: "IO error: <file>: No space left on device" */
const NO_SPACE_TEXT = /no space left on device|disk quota exceeded/i

/**
 * Classifies an error thrown by a write of the node's storage (LevelDB or the file system):
 * 'no_space' for a full disk, 'io_error' for another I/O failure, undefined for anything else.
 * Follows `cause` chains, since wrappers keep the original there.
 */
export function storageFailure(err: unknown): StorageFailure | undefined {
  let io = false
  let e: unknown = err
  for (let depth = 0; e instanceof Error && depth < 8; depth++, e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code
    if ((code !== undefined && NO_SPACE_CODES.has(code)) || NO_SPACE_TEXT.test(e.message)) return 'no_space'
    if (code !== undefined && IO_CODES.has(code)) io = true
  }
  return io ? 'io_error' : undefined
}

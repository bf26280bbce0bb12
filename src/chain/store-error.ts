/** Any failure of the chain store: unreadable or corrupt records, a locked or foreign database. */
export class StoreError extends Error {
  override name = 'StoreError'
}

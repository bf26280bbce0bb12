/** The one error every decoder throws on malformed, truncated, trailing or oversized input. */
export class CodecError extends Error {
  override name = 'CodecError'
}

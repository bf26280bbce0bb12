/**
 * What the sync server reads (the node implements it over ChainStore). Raw encoded bytes, so that
 * serving a range is a read and a copy — no decode/encode on the hot path.
 */
export interface BlockSource {
  tipHeight(): number
  tipHash(): Uint8Array
  getBlockWithCertificate(height: number): Promise<EncodedBlockWithCertificate | undefined>
}

export interface EncodedBlockWithCertificate {
  block: Uint8Array
  certificate: Uint8Array
}
